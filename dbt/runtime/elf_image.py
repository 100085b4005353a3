"""Reads and checks an ELF64 x86-64 executable: the one ELF parser (pyelftools) behind both
the Linux loader (places segments by p_vaddr) and the pc machine (by p_paddr).

It checks what any loader needs: ELF magic, class 64, little endian,
version 1, machine x86-64, type EXEC or DYN, program headers of the ELF64
size inside the file, and PT_LOAD segments that lie inside the file with
p_filesz <= p_memsz and do not overlap (`overlapping`, by the address the
loader places them at). Placement rules are the loaders' own. Every problem
is one line in the exception class the caller names (exit status 126).

What pyelftools parses may be memoized (`memo`: the code cache), keyed by the
bytes it parsed: importing pyelftools' parser (with the debugger its
`construct` imports) was a fifth of a warm run's start-up.
"""
import ast
import struct
from dataclasses import dataclass

PF_X, PF_W, PF_R = 1, 2, 4
EHDR_SIZE, PHDR_SIZE = 64, 56
MAX_PHDR_BYTES = 65536        # Linux refuses a larger program header table


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


def check_header(path: str, data: bytes, error: type[Exception]) -> bytes:
    """Check the ELF header fields pyelftools trusts: identification, version and the program
    header table. Returns what header_fields reads: the ELF header and the program headers."""
    if len(data) < EHDR_SIZE:
        raise error(f"{path}: truncated ELF header ({len(data)} of {EHDR_SIZE} bytes)")
    ei_class, ei_data, ei_version = data[4:7]
    if ei_class != 2 or ei_data != 1:
        raise error(f"{path}: not a little-endian ELF64 file (class {ei_class}, data encoding {ei_data})")
    version, phoff = struct.unpack_from("<I8xQ", data, 20)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    if ei_version != 1 or version != 1:
        raise error(f"{path}: unknown ELF version {ei_version}/{version}")
    if phnum and phentsize != PHDR_SIZE:
        raise error(f"{path}: program header size {phentsize}, not {PHDR_SIZE}")
    if phnum * PHDR_SIZE > MAX_PHDR_BYTES:
        raise error(f"{path}: {phnum} program headers is too many")
    if phoff + phnum * PHDR_SIZE > len(data):
        raise error(f"{path}: program headers at {phoff:#x} lie beyond the end of the file")
    return data[:EHDR_SIZE] + data[phoff:phoff + phnum * PHDR_SIZE]


def overlapping(segments: list[Segment], address) -> tuple[Segment, Segment] | None:
    """Two segments whose [address(s), address(s) + p_memsz) ranges intersect, if any."""
    ordered = sorted(segments, key=address)
    for a, b in zip(ordered, ordered[1:]):
        if address(a) + a.memsz > address(b):
            return a, b
    return None


def parse_headers(data: bytes) -> tuple:
    """The ELF header and program headers of a little-endian ELF64 file that check_header
    passed, as pyelftools' structs parse them (its ELFFile would also import its DWARF and
    unwinding readers: ~13 ms more of every run's start-up)."""
    from elftools.elf.structs import ELFStructs      # here: see the module's docstring
    structs = ELFStructs(little_endian=True, elfclass=64)
    structs.create_basic_structs()
    header = structs.Elf_Ehdr.parse(data)
    structs.create_advanced_structs(header["e_type"], header["e_machine"], header["e_ident"]["EI_OSABI"])
    start, size = header["e_phoff"], header["e_phentsize"]
    return header, [structs.Elf_Phdr.parse(data[start + i * size:start + (i + 1) * size])
                    for i in range(header["e_phnum"])]


def header_fields(data: bytes) -> tuple:
    """(e_machine, e_type, e_entry, e_phoff, e_phentsize, e_phnum, [(p_type, p_flags, p_offset,
    p_vaddr, p_paddr, p_filesz, p_memsz)]) of a file check_header passed, as pyelftools parses them."""
    header, program_headers = parse_headers(data)
    return (header["e_machine"], header["e_type"], header["e_entry"], header["e_phoff"], header["e_phentsize"],
            header["e_phnum"], [(s["p_type"], s["p_flags"], s["p_offset"], s["p_vaddr"], s["p_paddr"],
                                 s["p_filesz"], s["p_memsz"]) for s in program_headers])


def remembered_fields(memo, headers: bytes) -> tuple | None:
    """header_fields as a memo kept them for these header bytes (check_header's), or None (none
    kept, or not of header_fields' shape)."""
    kept = memo.kept_elf_headers(headers)
    try:
        fields = ast.literal_eval(kept.decode()) if kept is not None else None
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError):
        return None
    if (isinstance(fields, tuple) and len(fields) == 7 and isinstance(fields[6], list)
            and all(isinstance(v, int) for v in fields[2:6])
            and all(isinstance(s, tuple) and len(s) == 7 and all(isinstance(v, int) for v in s[1:]) for s in fields[6])):
        return fields
    return None


def read_elf(path: str, error: type[Exception], memo=None) -> ElfImage:
    """Parse `path`; raise `error(one line)` for anything no loader could use. `memo` (the
    code cache, or None) keeps what pyelftools parsed, for the next run of the same file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError:
        raise error(f"{path}: is a directory") from None
    if data[:4] != b"\x7fELF":
        raise error(f"{path}: not an ELF file")
    headers = check_header(path, data, error)
    fields = remembered_fields(memo, headers) if memo is not None else None
    parsed = fields is None
    if parsed:
        from elftools.common.exceptions import ELFError
        try:
            fields = header_fields(data)
        except (ELFError, ValueError, KeyError, OverflowError, AssertionError, TypeError) as e:
            raise error(f"{path}: malformed ELF ({type(e).__name__}: {e})") from None
    machine, elf_type, entry, phoff, phentsize, phnum, raw = fields
    if machine != "EM_X86_64":
        raise error(f"{path}: not an x86-64 ELF64 executable (class 64, machine {machine})")
    if elf_type not in ("ET_EXEC", "ET_DYN"):
        raise error(f"{path}: not an executable (type {elf_type})")
    segments = []
    for p_type, flags, offset, vaddr, paddr, filesz, memsz in raw:
        if p_type == "PT_LOAD" and filesz > memsz:
            raise error(f"{path}: segment at {vaddr:#x} has file size {filesz:#x} above its memory size {memsz:#x}")
        if p_type == "PT_LOAD" and offset + filesz > len(data):
            raise error(f"{path}: segment at {vaddr:#x} extends beyond the file")
        body = data[offset:offset + filesz] if p_type == "PT_LOAD" else b""
        segments.append(Segment(p_type, flags, offset, vaddr, paddr, filesz, memsz, body))
    image = ElfImage(elf_type == "ET_DYN", entry, phoff, phentsize, phnum, tuple(segments))
    if not image.loads:
        raise error(f"{path}: no loadable segments")
    if memo is not None and parsed:
        memo.keep_elf_headers(headers, repr(fields).encode())
    return image
