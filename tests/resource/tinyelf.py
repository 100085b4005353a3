"""A minimal static x86-64 ELF executable around raw code: one R+X PT_LOAD holding the whole file.

Used to run fuzz cases through `dbt run`, where the one-line report and the
exit status are part of what is checked.
"""
import struct

VADDR = 0x40_0000
EHDR_SIZE, PHDR_SIZE = 64, 56
PT_LOAD, PF_X, PF_W, PF_R = 1, 1, 2, 4
ENTRY = VADDR + EHDR_SIZE + PHDR_SIZE


def tiny_elf(code: bytes, flags: int = PF_R | PF_X) -> bytes:
    """ELF header, one program header (one segment of `flags`), then `code` (the entry point)."""
    entry = ENTRY
    size = EHDR_SIZE + PHDR_SIZE + len(code)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)          # ELF64, little endian, version 1
    ehdr = ident + struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, entry, EHDR_SIZE, 0, 0,
                               EHDR_SIZE, PHDR_SIZE, 1, 64, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", PT_LOAD, flags, 0, VADDR, VADDR, size, size, 0x1000)
    return ehdr + phdr + code
