"""Malformed ELF files made from a valid static executable: each a (name, bytes) pair.

Every mutation edits one thing of the real file (a header field, a program
header, the length) so a loader sees exactly one problem. Field offsets are
the ELF64 ones; nothing here runs a loader.
"""
from __future__ import annotations

import struct

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")     # e_ident type machine version entry phoff shoff flags ...
PHDR = struct.Struct("<IIQQQQQQ")             # type flags offset vaddr paddr filesz memsz align
PT_LOAD, PT_INTERP, PT_NOTE, PT_GNU_STACK = 1, 3, 4, 0x6474E551
PF_X, PF_W, PF_R = 1, 2, 4
HEADER_FIELDS = (4, 5, 6, 7, 16, 18, 20, 24, 32, 40, 48, 52, 54, 56, 58, 60, 62)   # field starts


class Elf:
    """A mutable view of an ELF64 file: the header and program headers as lists."""

    def __init__(self, data: bytes):
        self.data = bytearray(data)
        self.header = list(EHDR.unpack_from(data))
        self.phoff, self.phnum = self.header[5], self.header[10]
        self.phdrs = [list(PHDR.unpack_from(data, self.phoff + i * PHDR.size)) for i in range(self.phnum)]

    def loads(self) -> list[int]:
        return [i for i, p in enumerate(self.phdrs) if p[0] == PT_LOAD]

    def text(self) -> int:
        return next(i for i in self.loads() if self.phdrs[i][1] & PF_X)

    def bytes(self) -> bytes:
        out = bytearray(self.data)
        EHDR.pack_into(out, 0, *self.header)
        for i, p in enumerate(self.phdrs):
            PHDR.pack_into(out, self.phoff + i * PHDR.size, *p)
        return bytes(out)


def with_header(data: bytes, **fields) -> bytes:
    names = ("ident", "type", "machine", "version", "entry", "phoff", "shoff", "flags", "ehsize",
             "phentsize", "phnum", "shentsize", "shnum", "shstrndx")
    elf = Elf(data)
    for name, value in fields.items():
        elf.header[names.index(name)] = value
    return elf.bytes()


def with_phdr(data: bytes, which, **fields) -> bytes:
    """Change fields of program header `which` (an index, or a function of the Elf giving one)."""
    names = ("type", "flags", "offset", "vaddr", "paddr", "filesz", "memsz", "align")
    elf = Elf(data)
    index = which(elf) if callable(which) else which
    for name, value in fields.items():
        elf.phdrs[index][names.index(name)] = value(elf.phdrs[index]) if callable(value) else value
    return elf.bytes()


def with_ident(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + bytes([value]) + data[offset + 1:]


def without_loads(data: bytes) -> bytes:
    elf = Elf(data)
    for i in elf.loads():
        elf.phdrs[i][0] = PT_NOTE
    return elf.bytes()


def truncations(data: bytes) -> list[tuple[str, bytes]]:
    """The file cut at every header field and program header boundary, and inside each segment."""
    elf = Elf(data)
    cuts = {0, 1, 4, *HEADER_FIELDS, EHDR.size}
    cuts |= {elf.phoff + i * PHDR.size + k for i in range(elf.phnum) for k in (0, 4, 8, 32, PHDR.size)}
    cuts |= {elf.phdrs[i][2] + elf.phdrs[i][5] - 1 for i in elf.loads() if elf.phdrs[i][5]}
    return [(f"truncated at {cut}", data[:cut]) for cut in sorted(cuts) if cut < len(data)]


def corpus(data: bytes) -> list[tuple[str, bytes]]:
    """(name, file bytes) for every malformed variant of the valid ELF `data`."""
    elf = Elf(data)
    first, text = elf.loads()[0], elf.text()
    last = elf.loads()[-1]
    other = next((i for i, p in enumerate(elf.phdrs) if p[0] in (PT_NOTE, PT_GNU_STACK)), None)
    top = max(elf.phdrs[i][3] + elf.phdrs[i][6] for i in elf.loads())
    cases = truncations(data) + [
        ("bad magic", b"\x7fELG" + data[4:]),
        ("class ELF32", with_ident(data, 4, 1)),
        ("class invalid", with_ident(data, 4, 7)),
        ("big endian", with_ident(data, 5, 2)),
        ("ident version 0", with_ident(data, 6, 0)),
        ("machine i386", with_header(data, machine=3)),
        ("machine aarch64", with_header(data, machine=183)),
        ("type relocatable", with_header(data, type=1)),
        ("type core", with_header(data, type=4)),
        ("type none", with_header(data, type=0)),
        ("version 0", with_header(data, version=0)),
        ("zero program headers", with_header(data, phnum=0)),
        ("absurd phnum", with_header(data, phnum=0xFFFF)),
        ("phoff beyond the file", with_header(data, phoff=len(data) + 0x1000)),
        ("phoff near 2^64", with_header(data, phoff=(1 << 64) - 8)),
        ("phentsize 0", with_header(data, phentsize=0)),
        ("phentsize 32", with_header(data, phentsize=32)),
        ("phentsize 57", with_header(data, phentsize=57)),
        ("phentsize 0xffff", with_header(data, phentsize=0xFFFF)),
        ("entry outside any segment", with_header(data, entry=top + 0x10000)),
        ("entry in a non-executable segment", with_header(data, entry=elf.phdrs[first][3]
                                                           if first != text else elf.phdrs[last][3])),
        ("entry near 2^64", with_header(data, entry=(1 << 64) - 16)),
        ("segment offset beyond the file", with_phdr(data, text, offset=len(data) + 0x1000)),
        ("segment offset near 2^64", with_phdr(data, text, offset=(1 << 64) - 0x1000)),
        ("segment filesz beyond the file", with_phdr(data, text, filesz=lambda p: len(data) - p[2] + 0x100,
                                                     memsz=lambda p: len(data) - p[2] + 0x100)),
        ("segment filesz > memsz", with_phdr(data, text, memsz=lambda p: p[5] // 2)),
        ("huge memsz 2^63", with_phdr(data, last, memsz=1 << 63)),
        ("huge memsz 2^64-1", with_phdr(data, last, memsz=(1 << 64) - 1)),
        ("memsz 60 GiB", with_phdr(data, last, memsz=60 << 30)),
        ("memsz 1 TiB", with_phdr(data, last, memsz=1 << 40)),
        ("vaddr near 2^64", with_phdr(data, last, vaddr=(1 << 64) - 0x1000, paddr=(1 << 64) - 0x1000)),
        ("vaddr + memsz wraps", with_phdr(data, last, vaddr=(1 << 64) - 0x1000, paddr=(1 << 64) - 0x1000,
                                          memsz=0x2000)),
        ("segments overlapping", with_phdr(data, last, vaddr=elf.phdrs[text][3], paddr=elf.phdrs[text][4])),
        ("offset and vaddr disagree mod page", with_phdr(data, text, offset=lambda p: p[2] + 1,
                                                         filesz=lambda p: p[5] - 1, memsz=lambda p: p[6] - 1)),
        ("no loadable segment", without_loads(data)),
    ]
    if other is not None:
        cases.append(("PT_INTERP", with_phdr(data, other, type=PT_INTERP, offset=0, filesz=8, memsz=8)))
    return cases
