"""Reads and checks an ELF64 x86-64 executable: the one ELF parser (pyelftools) behind both
the Linux loader (places segments by p_vaddr) and the pc machine (by p_paddr).

It checks what any loader needs: ELF magic, class 64, machine x86-64,
type EXEC or DYN, and PT_LOAD segments that lie inside the file with
p_filesz <= p_memsz. Placement rules are the loaders' own. Every problem is
one line in the exception class the caller names (exit status 126).
"""
import io
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

PF_X, PF_W, PF_R = 1, 2, 4


@dataclass(frozen=True)
class Segment:
    type: str            # "PT_LOAD", "PT_PHDR", "PT_INTERP", ...
    flags: int           # PF_* bits
    offset: int
    vaddr: int
    paddr: int
    filesz: int
    memsz: int
    data: bytes          # the p_filesz bytes from the file (PT_LOAD only)


@dataclass(frozen=True)
class ElfImage:
    is_pie: bool         # ET_DYN
    entry: int
    phoff: int
    phentsize: int
    phnum: int
    segments: tuple[Segment, ...]

    @property
    def loads(self) -> list[Segment]:
        return [s for s in self.segments if s.type == "PT_LOAD" and s.memsz]


def read_elf(path: str, error: type[Exception]) -> ElfImage:
    """Parse `path`; raise `error(one line)` for anything no loader could use."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError:
        raise error(f"{path}: is a directory") from None
    if data[:4] != b"\x7fELF":
        raise error(f"{path}: not an ELF file")
    try:
        elf = ELFFile(io.BytesIO(data))
        header = elf.header
        if elf.elfclass != 64 or header["e_machine"] != "EM_X86_64":
            raise error(f"{path}: not an x86-64 ELF64 executable "
                        f"(class {elf.elfclass}, machine {header['e_machine']})")
        if header["e_type"] not in ("ET_EXEC", "ET_DYN"):
            raise error(f"{path}: not an executable (type {header['e_type']})")
        raw = [(s["p_type"], s["p_flags"], s["p_offset"], s["p_vaddr"], s["p_paddr"],
                s["p_filesz"], s["p_memsz"]) for s in elf.iter_segments()]
    except error:
        raise
    except (ELFError, ValueError, KeyError, OverflowError, AssertionError, TypeError) as e:
        raise error(f"{path}: malformed ELF ({type(e).__name__}: {e})") from None
    segments = []
    for p_type, flags, offset, vaddr, paddr, filesz, memsz in raw:
        if p_type == "PT_LOAD" and (filesz > memsz or offset + filesz > len(data)):
            raise error(f"{path}: segment at {vaddr:#x} extends beyond the file")
        body = data[offset:offset + filesz] if p_type == "PT_LOAD" else b""
        segments.append(Segment(p_type, flags, offset, vaddr, paddr, filesz, memsz, body))
    image = ElfImage(header["e_type"] == "ET_DYN", header["e_entry"], header["e_phoff"],
                     header["e_phentsize"], header["e_phnum"], tuple(segments))
    if not image.loads:
        raise error(f"{path}: no loadable segments")
    return image
