"""Loads a static x86-64 ELF executable into guest memory by p_vaddr (parsed by elf_image).

A static-PIE program (ET_DYN without PT_INTERP) is placed at PIE_BASE;
PT_GNU_STACK is ignored and PT_TLS is left to libc, as the kernel does.
Everything about the file is validated before the guest starts: a file that
is not ELF64 x86-64, is truncated, has segments beyond the file or the guest
space, overlapping or with a file offset the kernel could not map, or an
entry outside executable code raises BadProgram with one line.
"""
from dataclasses import dataclass

from dbt.runtime.elf_image import PF_R, PF_W, PF_X, overlapping, read_elf
from dbt.runtime.memory import PAGE_MASK, PAGE_SIZE
PIE_BASE = 0x10_0000_0000 // 4     # where a static-PIE program is placed (inside the guest space)


class BadProgram(Exception):
    """The program file cannot be run (exit status 126)."""


@dataclass
class LoadedProgram:
    entry: int
    phdr: int            # guest address of the program headers (AT_PHDR)
    phent: int
    phnum: int
    base: int            # load bias (0 for ET_EXEC)
    brk: int             # first page after the highest segment
    areas: list[tuple[int, int, int]]   # (start, end, PF_* flags) of the mapped pages, page-granular


def _perms(flags: int) -> str:
    return ("r" if flags & PF_R else "") + ("w" if flags & PF_W else "") + ("x" if flags & PF_X else "")


def page_areas(ranges: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Page-granular (start, end, flags) areas of disjoint, sorted-or-not byte ranges: a page
    shared by two segments gets both permissions. Costs O(segments), whatever their size."""
    areas: list[tuple[int, int, int]] = []
    for start, end, flags in sorted(ranges):
        first, last = start & ~PAGE_MASK, (end + PAGE_MASK) & ~PAGE_MASK
        if areas and areas[-1][1] > first:           # shares its first page with the previous one
            prev_start, prev_end, prev_flags = areas.pop()
            if prev_start < first:
                areas.append((prev_start, first, prev_flags))
            areas.append((first, first + PAGE_SIZE, prev_flags | flags))
            first += PAGE_SIZE
        if first < last:
            areas.append((first, last, flags))
    merged: list[tuple[int, int, int]] = []
    for area in areas:
        if merged and merged[-1][1] == area[0] and merged[-1][2] == area[2]:
            merged[-1] = (merged[-1][0], area[1], area[2])
        else:
            merged.append(area)
    return merged


def load_elf(path: str, mem, memo=None) -> LoadedProgram:
    """memo: the code cache, to keep the parse of the file's headers in (elf_image.read_elf), or None."""
    image = read_elf(path, BadProgram, memo)
    if any(seg.type == "PT_INTERP" for seg in image.segments):
        raise BadProgram(f"{path}: dynamically linked programs are not supported yet")
    loads = image.loads
    base = PIE_BASE if image.is_pie else 0
    for seg in loads:
        if (seg.vaddr - seg.offset) & PAGE_MASK:     # the kernel's mmap of the file would fail
            raise BadProgram(f"{path}: segment at {seg.vaddr:#x} has file offset {seg.offset:#x} "
                             f"that differs from its address modulo the page size")
    clash = overlapping(loads, lambda s: s.vaddr)
    if clash:
        raise BadProgram(f"{path}: segments at {clash[0].vaddr:#x} and {clash[1].vaddr:#x} overlap")
    high = 0
    for seg in loads:
        vaddr = seg.vaddr + base
        start, end = vaddr & ~PAGE_MASK, (vaddr + seg.memsz + PAGE_MASK) & ~PAGE_MASK
        if end > mem.size or end <= start:
            raise BadProgram(f"{path}: segment at {vaddr:#x} size {seg.memsz:#x} is outside the guest address space")
        mem.map(start, end - start, "rw")
        mem.poke(vaddr, seg.data)
        high = max(high, end)
    areas = page_areas([(s.vaddr + base, s.vaddr + base + s.memsz, s.flags) for s in loads])
    for start, end, flags in areas:
        mem.protect(start, end - start, _perms(flags))
    entry = image.entry + base
    if not any(s.flags & PF_X and s.vaddr + base <= entry < s.vaddr + base + s.memsz for s in loads):
        raise BadProgram(f"{path}: entry point {entry:#x} is not in an executable segment")
    phdr = next((s.vaddr + base for s in image.segments if s.type == "PT_PHDR"), None)
    if phdr is None:
        first = min(loads, key=lambda s: s.offset)
        phdr = first.vaddr + base + image.phoff - first.offset
    return LoadedProgram(entry, phdr, image.phentsize, image.phnum, base,
                         (high + PAGE_SIZE - 1) & ~PAGE_MASK, areas)
