"""Loads a static x86-64 ELF executable into guest memory by p_vaddr (parsed by elf_image).

A static-PIE program (ET_DYN without PT_INTERP) is placed at PIE_BASE;
PT_GNU_STACK is ignored and PT_TLS is left to libc, as the kernel does.
Everything about the file is validated before the guest starts: a file that
is not ELF64 x86-64, is truncated, has segments beyond the file or the guest
space, or an entry outside executable code raises BadProgram with one line.
"""
from dataclasses import dataclass

from dbt.runtime.elf_image import PF_R, PF_W, PF_X, read_elf
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


def load_elf(path: str, mem) -> LoadedProgram:
    image = read_elf(path, BadProgram)
    if any(seg.type == "PT_INTERP" for seg in image.segments):
        raise BadProgram(f"{path}: dynamically linked programs are not supported yet")
    loads = image.loads
    base = PIE_BASE if image.is_pie else 0
    high = 0
    for seg in loads:
        vaddr = seg.vaddr + base
        start, end = vaddr & ~PAGE_MASK, (vaddr + seg.memsz + PAGE_MASK) & ~PAGE_MASK
        if end > mem.size or end <= start:
            raise BadProgram(f"{path}: segment at {vaddr:#x} size {seg.memsz:#x} is outside the guest address space")
        mem.map(start, end - start, "rw")
        mem.poke(vaddr, seg.data)
        high = max(high, end)
    page_flags: dict[int, int] = {}     # pages shared by two segments get both permissions
    for seg in loads:
        vaddr = seg.vaddr + base
        for page in range(vaddr & ~PAGE_MASK, vaddr + seg.memsz, PAGE_SIZE):
            page_flags[page] = page_flags.get(page, 0) | seg.flags
    areas: list[tuple[int, int, int]] = []
    for page, flags in sorted(page_flags.items()):
        mem.protect(page, PAGE_SIZE, _perms(flags))
        if areas and areas[-1][1] == page and areas[-1][2] == flags:
            areas[-1] = (areas[-1][0], page + PAGE_SIZE, flags)
        else:
            areas.append((page, page + PAGE_SIZE, flags))
    entry = image.entry + base
    if not any(s.flags & PF_X and s.vaddr + base <= entry < s.vaddr + base + s.memsz for s in loads):
        raise BadProgram(f"{path}: entry point {entry:#x} is not in an executable segment")
    phdr = next((s.vaddr + base for s in image.segments if s.type == "PT_PHDR"), None)
    if phdr is None:
        first = min(loads, key=lambda s: s.offset)
        phdr = first.vaddr + base + image.phoff - first.offset
    return LoadedProgram(entry, phdr, image.phentsize, image.phnum, base,
                         (high + PAGE_SIZE - 1) & ~PAGE_MASK, areas)
