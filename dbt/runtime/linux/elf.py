"""Loads a static x86-64 ELF executable into guest memory (pyelftools parses it).

A static-PIE program (ET_DYN without PT_INTERP) is placed at PIE_BASE;
PT_GNU_STACK is ignored and PT_TLS is left to libc, as the kernel does.
Everything about the file is validated before the guest starts: a file that
is not ELF64 x86-64, is truncated, has segments beyond the file or the guest
space, or an entry outside executable code raises BadProgram with one line.
"""
import io
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from dbt.runtime.memory import PAGE_MASK, PAGE_SIZE

PF_X, PF_W, PF_R = 1, 2, 4
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
    try:
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError:
        raise BadProgram(f"{path}: is a directory") from None
    if data[:4] != b"\x7fELF":
        raise BadProgram(f"{path}: not an ELF file")
    try:
        elf = ELFFile(io.BytesIO(data))
        header = elf.header
        if elf.elfclass != 64 or header["e_machine"] != "EM_X86_64":
            raise BadProgram(f"{path}: not an x86-64 ELF64 program (class {elf.elfclass}, machine {header['e_machine']})")
        if header["e_type"] not in ("ET_EXEC", "ET_DYN"):
            raise BadProgram(f"{path}: not an executable (type {header['e_type']})")
        segments = list(elf.iter_segments())
    except (ELFError, ValueError, KeyError, OverflowError) as e:
        raise BadProgram(f"{path}: malformed ELF ({e})") from None
    except Exception as e:      # pyelftools raises assorted errors on truncated input
        if isinstance(e, BadProgram):
            raise
        raise BadProgram(f"{path}: malformed ELF ({type(e).__name__}: {e})") from None
    if any(s["p_type"] == "PT_INTERP" for s in segments):
        raise BadProgram(f"{path}: dynamically linked programs are not supported yet")
    loads = [s for s in segments if s["p_type"] == "PT_LOAD"]
    if not loads:
        raise BadProgram(f"{path}: no loadable segments")
    base = PIE_BASE if header["e_type"] == "ET_DYN" else 0
    high = 0
    for seg in loads:
        off, filesz, vaddr, memsz = seg["p_offset"], seg["p_filesz"], seg["p_vaddr"] + base, seg["p_memsz"]
        if filesz > memsz or off + filesz > len(data):
            raise BadProgram(f"{path}: segment at {vaddr:#x} extends beyond the file")
        start, end = vaddr & ~PAGE_MASK, (vaddr + memsz + PAGE_MASK) & ~PAGE_MASK
        if end > mem.size or end <= start and memsz:
            raise BadProgram(f"{path}: segment at {vaddr:#x} size {memsz:#x} is outside the guest address space")
        mem.map(start, end - start, "rw")
        mem.poke(vaddr, data[off:off + filesz])
        high = max(high, end)
    page_flags: dict[int, int] = {}     # pages shared by two segments get both permissions
    for seg in loads:
        vaddr, memsz = seg["p_vaddr"] + base, seg["p_memsz"]
        for page in range(vaddr & ~PAGE_MASK, vaddr + memsz, PAGE_SIZE):
            page_flags[page] = page_flags.get(page, 0) | seg["p_flags"]
    areas: list[tuple[int, int, int]] = []
    for page, flags in sorted(page_flags.items()):
        mem.protect(page, PAGE_SIZE, _perms(flags))
        if areas and areas[-1][1] == page and areas[-1][2] == flags:
            areas[-1] = (areas[-1][0], page + PAGE_SIZE, flags)
        else:
            areas.append((page, page + PAGE_SIZE, flags))
    entry = header["e_entry"] + base
    if not any(s["p_flags"] & PF_X and s["p_vaddr"] + base <= entry < s["p_vaddr"] + base + s["p_memsz"]
               for s in loads):
        raise BadProgram(f"{path}: entry point {entry:#x} is not in an executable segment")
    phdr = next((s["p_vaddr"] + base for s in segments if s["p_type"] == "PT_PHDR"), None)
    if phdr is None:
        first = min(loads, key=lambda s: s["p_offset"])
        phdr = first["p_vaddr"] + base + header["e_phoff"] - first["p_offset"]
    return LoadedProgram(entry, phdr, header["e_phentsize"], header["e_phnum"], base,
                         (high + PAGE_SIZE - 1) & ~PAGE_MASK, areas)
