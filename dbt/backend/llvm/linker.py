"""Loads the relocatable x86-64 ELF objects LLVM emits into executable memory, without LLVM.

Every translated block and region reaches the host this way, freshly compiled or
read from the code cache: a run the cache serves entirely never loads LLVM
(~35 ms of a warm run's start-up, and its object loader's ~20 ms). The objects
are what `jit.py` makes (large code model): a batch's sections are placed in an
`Arena` (code read-and-execute, the rest read-write), their relocations applied,
their global symbols kept for lookups and later objects.
A relocation or section kind this loader does not know is a LinkError naming
it, never a guess; unwinding tables (.eh_frame) are not loaded. The entries of
an object's host-fault section (host_faults.py) go to the linker's fault table
once relocated.
"""
import ctypes
import mmap
import os
import struct
import threading
import weakref

from dbt.backend.llvm.host_faults import FAULTS_SECTION, entries

EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
SHDR = struct.Struct("<IIQQQQIIQQ")
SYM = struct.Struct("<IBBHQQ")
RELA = struct.Struct("<QQq")
U64, S32, U32 = struct.Struct("<Q"), struct.Struct("<i"), struct.Struct("<I")
ELF_HEAD = b"\x7fELF\x02\x01"                   # 64-bit, little-endian
EM_X86_64, ET_REL = 62, 1
SHT_SYMTAB, SHT_RELA, SHT_NOBITS, SHT_REL = 2, 4, 8, 9
SHF_ALLOC, SHF_EXECINSTR = 2, 4
SHN_UNDEF, SHN_ABS, SHN_COMMON = 0, 0xFFF1, 0xFFF2
STB_LOCAL, STB_WEAK = 0, 2
R_X86_64_NONE, R_X86_64_64, R_X86_64_PC32, R_X86_64_PLT32, R_X86_64_32, R_X86_64_32S, R_X86_64_PC64 = \
    0, 1, 2, 4, 10, 11, 24
STUB = struct.Struct("<6sQ2x")                   # jmp [rip + 0]; the target's address; padding
JMP_INDIRECT = b"\xff\x25\x00\x00\x00\x00"
SKIPPED = (".eh_frame",)                        # unwinding: no host unwinder walks translated code
PAGE = mmap.PAGESIZE
ARENA = 16 << 20                                # address space an arena reserves for code, and for data
MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)
MASK64 = (1 << 64) - 1

_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)


class LinkError(Exception):
    """An object this loader cannot load: what is wrong, never a half-loaded object run."""


def _host_libraries() -> list:
    """Where symbols no object defines come from: the process (libc, libm) and libgcc
    (LLVM calls its 128-bit division routines)."""
    libraries = [ctypes.CDLL(None)]
    try:
        libraries.append(ctypes.CDLL("libgcc_s.so.1"))
    except OSError:
        pass
    return libraries


def _round_up(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


class Section:
    """One allocated section of an object: where its bytes go in the batch's image."""

    __slots__ = ("data", "size", "align", "code", "faults", "offset", "address")

    def __init__(self, data: bytes, size: int, align: int, code: bool, faults: bool = False):
        self.data, self.size, self.align, self.code, self.faults = data, size, align, code, faults
        self.offset = self.address = 0        # in its part of the load's image; in memory


class ObjectFile:
    """The parts of one relocatable object the loader uses: sections, symbols, relocations."""

    def __init__(self, data: bytes):
        if data[:6] != ELF_HEAD or len(data) < EHDR.size:
            raise LinkError("not a 64-bit little-endian ELF object")
        header = EHDR.unpack_from(data)
        e_type, e_machine, shoff, shentsize, shnum = header[1], header[2], header[6], header[11], header[12]
        if e_type != ET_REL or e_machine != EM_X86_64 or shentsize != SHDR.size:
            raise LinkError(f"not a relocatable x86-64 object (type {e_type}, machine {e_machine})")
        shdrs = [SHDR.unpack_from(data, shoff + i * SHDR.size) for i in range(shnum)]
        names = shdrs[header[13]]
        self.sections: dict[int, Section] = {}
        self.relocations: list[tuple[int, bytes]] = []       # (target section index, rela bytes)
        symtab = strtab = None
        for index, (name, kind, flags, _, offset, size, link, info, align, _) in enumerate(shdrs):
            section_name = data[names[4] + name:data.index(b"\0", names[4] + name)].decode()
            if kind == SHT_SYMTAB:
                symtab = data[offset:offset + size]
                strtab = shdrs[link]
            elif kind == SHT_REL:
                raise LinkError(f"section {section_name}: REL relocations (x86-64 objects use RELA)")
            elif kind == SHT_RELA:
                self.relocations.append((info, data[offset:offset + size]))
            elif flags & SHF_ALLOC and section_name not in SKIPPED and size:
                body = b"" if kind == SHT_NOBITS else data[offset:offset + size]
                self.sections[index] = Section(body, size, max(align, 1), bool(flags & SHF_EXECINSTR),
                                               section_name == FAULTS_SECTION)
        if symtab is None:
            raise LinkError("object has no symbol table")
        self.symbols = list(SYM.iter_unpack(symtab))
        self.strings = data[strtab[4]:strtab[4] + strtab[5]]
        self.externals = {index: self.symbol_name(name) for index, (name, _, _, shndx, _, _) in enumerate(self.symbols)
                          if shndx == SHN_UNDEF and name}           # symbol index -> name, of those it uses

    def symbol_name(self, offset: int) -> str:
        return self.strings[offset:self.strings.index(b"\0", offset)].decode()


class Arena:
    """Address space the loaded objects' code and data are placed in, one bump at a time and
    never reused: a code half and a data half of one mapping, so that code reaches its data
    with 32-bit displacements (gcc's small code model) whatever else the process maps. Each
    load's code starts on a fresh page and is made read-and-execute once written: pages of
    code that may be running are never writable, and the kernel merges the code half's
    pages into one mapping (a mapping a load, and another for its data, would meet the
    process's limit of 65,530 after ~30,000 loads)."""

    def __init__(self, half: int):
        self.half = half
        self.map = mmap.mmap(-1, 2 * half, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE)
        self.base = ctypes.addressof(ctypes.c_char.from_buffer(self.map))
        self.used = {True: 0, False: 0}          # code?: bytes of its half taken

    def take(self, sizes: dict[bool, tuple[int, int]]) -> dict[bool, int] | None:
        """The addresses of {code?: (size, alignment)} in their halves, or None if either is full."""
        placed = {}
        for code, (size, align) in sizes.items():
            at = _round_up(self.used[code], align)
            if at + size > self.half:
                return None
            placed[code] = at
        for code, (size, _) in sizes.items():
            self.used[code] = placed[code] + size
        return {code: self.base + at + (0 if code else self.half) for code, at in placed.items()}

    def write(self, address: int, data: bytes) -> None:
        self.map[address - self.base:address - self.base + len(data)] = data


class Linker:
    """Objects loaded into this process, their global symbols by name.

    `parent`: another linker whose symbols this one's objects may use (the runtime
    helpers', shared by every engine). Loads may come from two threads (the region
    worker's compiles, the guest thread's cache loads): one lock serialises them.
    Code and data live in arenas (2 x ARENA bytes of address space each, committed as
    used) as long as the linker does.
    """

    def __init__(self, parent: "Linker | None" = None):
        self.parent = parent
        self.faults = None                          # a host_faults.FaultTable (None: the parent's)
        self.symbols: dict[str, int] = {}
        self.arenas: list[Arena] = []               # the last is in use
        self.lock = threading.Lock()
        self._libraries = None

    def address(self, name: str) -> int:
        """The address of a global symbol some loaded object defines; KeyError if none does."""
        linker = self
        while linker is not None:
            found = linker.symbols.get(name)
            if found is not None:
                return found
            linker = linker.parent
        raise KeyError(f"no loaded object defines {name}")

    def fault_table(self):
        """The fault table this linker's objects' host-fault entries go to (its own or its
        parent's); LinkError when there is none."""
        linker = self
        while linker is not None:
            if linker.faults is not None:
                return linker.faults
            linker = linker.parent
        raise LinkError(f"an object has {FAULTS_SECTION} entries and no fault table takes them")

    def load(self, objects: list[bytes]) -> None:
        """Load several objects at once (their code shares pages)."""
        if not objects:
            return
        parsed = [ObjectFile(data) for data in objects]
        with self.lock:
            self._load(parsed)

    def _load(self, parsed: list[ObjectFile]) -> None:
        parts, sizes = {}, {}                        # code? -> (its sections, image); (size, alignment)
        externals = sorted({name for obj in parsed for name in obj.externals.values()})
        for code in (True, False):
            sections = [s for obj in parsed for s in obj.sections.values() if s.code == code]
            end = self._lay_out(sections)
            if code:                                 # then a stub for each symbol no object defines
                stub_at = {name: _round_up(end, STUB.size) + STUB.size * i for i, name in enumerate(externals)}
                end = _round_up(end, STUB.size) + STUB.size * len(externals)
            image = bytearray(end)
            for section in sections:
                image[section.offset:section.offset + len(section.data)] = section.data
            parts[code] = (sections, image)
            align = PAGE if code else max((s.align for s in sections), default=1)
            sizes[code] = (_round_up(len(image), align), align)
        addresses = self.arenas[-1].take(sizes) if self.arenas else None
        if addresses is None:
            self.arenas.append(self._arena(max(ARENA, *(_round_up(size, PAGE) for size, _ in sizes.values()))))
            addresses = self.arenas[-1].take(sizes)
        for code, (sections, _) in parts.items():
            for section in sections:
                section.address = addresses[code] + section.offset
        defined = {}
        values = [self._symbol_values(obj, defined) for obj in parsed]
        stubs, code_image = {}, parts[True][1]
        for obj, value in zip(parsed, values):
            for index, name in obj.externals.items():
                if name not in stubs and value[index]:      # (a weak one not found has none)
                    STUB.pack_into(code_image, stub_at[name], JMP_INDIRECT, value[index])
                    stubs[name] = addresses[True] + stub_at[name]
        for obj, value in zip(parsed, values):
            self._relocate(obj, value, {code: image for code, (_, image) in parts.items()}, stubs)
        faults = [pair for s in parts[False][0] if s.faults for pair in entries(parts[False][1], s.offset, s.size)]
        if faults:
            self.fault_table().add(faults)
        for code, (_, image) in parts.items():
            self.arenas[-1].write(addresses[code], bytes(image))
        if code_image and _LIBC.mprotect(addresses[True], sizes[True][0], mmap.PROT_READ | mmap.PROT_EXEC):
            err = ctypes.get_errno()
            raise LinkError(f"mprotect of translated code: {os.strerror(err)}")
        self.symbols.update(defined)

    def _arena(self, half: int) -> Arena:
        """A new arena; the fault table (if any) forgets its entries when it goes, so that code
        loaded later at its addresses never finds them."""
        arena = Arena(half)
        try:
            table = self.fault_table()
        except LinkError:
            return arena
        weakref.finalize(arena, table.forget, arena.base, arena.base + 2 * half)
        return arena

    @staticmethod
    def _lay_out(sections: list[Section]) -> int:
        at = 0
        for section in sections:
            at = _round_up(at, section.align)
            section.offset = at
            at += section.size
        return at

    def _symbol_values(self, obj: ObjectFile, defined: dict[str, int]) -> list[int]:
        """Each symbol's address (by symbol table index); the batch's globals go into `defined`,
        which its other objects see."""
        values = []
        for name, info, _, shndx, value, _ in obj.symbols:
            bind = info >> 4
            if shndx == SHN_UNDEF:
                values.append(0 if not name else self._external(obj.symbol_name(name), defined, bind == STB_WEAK))
                continue
            if shndx == SHN_ABS:
                address = value
            elif shndx == SHN_COMMON:
                raise LinkError(f"common symbol {obj.symbol_name(name)} (objects here use .bss)")
            else:
                section = obj.sections.get(shndx)
                address = section.address + value if section is not None else 0
            if bind != STB_LOCAL and name:
                defined.setdefault(obj.symbol_name(name), address)
            values.append(address)
        return values

    def _external(self, name: str, defined: dict[str, int], weak: bool) -> int:
        """The address of a symbol an object uses and does not define."""
        found = defined.get(name)
        if found is not None:
            return found
        if name == "_GLOBAL_OFFSET_TABLE_":
            raise LinkError("object uses a global offset table (code compiled with -fpic): not supported")
        try:
            return self.address(name)
        except KeyError:
            pass
        if self._libraries is None:
            self._libraries = _host_libraries()
        for library in self._libraries:
            try:
                return ctypes.cast(getattr(library, name), ctypes.c_void_p).value
            except AttributeError:
                continue
        if weak:
            return 0
        raise LinkError(f"undefined symbol {name}")

    @staticmethod
    def _relocate(obj: ObjectFile, values: list[int], images: dict[bool, bytearray], stubs: dict[str, int]) -> None:
        """Apply obj's relocations to the images; a 32-bit call to a symbol no object of the load
        defines goes through its stub in the load's code (which jumps to it wherever it is)."""
        for target, table in obj.relocations:
            section = obj.sections.get(target)
            if section is None:                  # relocations of a section not loaded (.eh_frame)
                continue
            image = images[section.code]
            for offset, info, addend in RELA.iter_unpack(table):
                kind, at, place = info & 0xFFFFFFFF, section.offset + offset, section.address + offset
                symbol = info >> 32
                value = values[symbol] + addend
                if kind == R_X86_64_PLT32 and obj.externals.get(symbol) in stubs:
                    value = stubs[obj.externals[symbol]] + addend
                if kind == R_X86_64_64:
                    U64.pack_into(image, at, value & MASK64)
                elif kind in (R_X86_64_PC32, R_X86_64_PLT32):
                    relative = value - place
                    if not -(1 << 31) <= relative < 1 << 31:
                        raise LinkError(f"32-bit PC-relative relocation out of range ({relative:#x})")
                    S32.pack_into(image, at, relative)
                elif kind == R_X86_64_PC64:
                    U64.pack_into(image, at, (value - place) & MASK64)
                elif kind == R_X86_64_32 and 0 <= value < 1 << 32:
                    U32.pack_into(image, at, value)
                elif kind == R_X86_64_32S and -(1 << 31) <= value < 1 << 31:
                    S32.pack_into(image, at, value)
                elif kind != R_X86_64_NONE:
                    raise LinkError(f"relocation type {kind} at {place:#x} not supported (or its value "
                                    f"{value:#x} does not fit)")
