"""Guest memory: one host memory file seen through two mappings, plus a page-permission table.

Every guest access in every engine obeys the same rule (`check`): an address
outside [0, size) or on a page without the permission is a guest fault,
never a host fault. The runtime and the interpreter reach guest memory through
`view`, a mapping that is always readable and writable. Native code reaches
the same bytes at `base`, a second mapping whose host protections say what a
native access may do without asking (`host_protection`: loads where the page is
readable and not watched; stores where it is readable and writable, not
watched, holding no translated code): an access the host refuses there raises
SIGSEGV, which the fault table (dbt/backend/llvm/host_faults.py) turns into a
jump to that access's exact check (@dbt_guest_access). A guard page on either
side of the space catches an access running off its end.
A store to a page marked CODE calls `on_code_write` before it lands, so
translated blocks of that page are dropped before the next instruction.
A range may be backed by a host file, shared (`map_file`: stores reach the
file); unmapping puts fresh memory back, so the reservation never has a hole.
WATCH_R / WATCH_W mark pages under memory hooks (dbt/runtime/hooks.py): a
guest load / store there leaves translated code (both engines) so the hook
can check the exact range; the marks outlive map/protect/unmap.
"""
import ctypes
import mmap
import os
import re
import weakref

from dbt.ir.exits import Vector

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = PAGE_SIZE - 1

R, W, X, CODE = 1, 2, 4, 8       # CODE: the page holds translated code
WATCH_R, WATCH_W = 16, 32        # guest loads / stores on the page exit to memory hooks
PERMS = R | W | X
# (bits, value): native code loads from a page whose permissions' bits are that value without
# asking (R, not watched), and stores to one (R and W, not watched, no translated code)
NATIVE_LOAD, NATIVE_STORE = (R | WATCH_R, R), (R | W | WATCH_R | WATCH_W | CODE, R | W)
DEFAULT_SPACE = 1 << 36          # 64 GiB of guest address space, reserved not committed
MAX_SPACE = 1 << 39              # 512 GiB (its two mappings: 1 TiB of the host's address space)
MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)
MAP_FIXED = 0x10
FALLOC_PUNCH_HOLE = 0x01 | 0x02       # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE: zeros, memory given back
HOST_NONE, HOST_READ, HOST_RW = 0, mmap.PROT_READ, mmap.PROT_READ | mmap.PROT_WRITE
GUARD = PAGE_SIZE                 # before and after the space, no access: a native access running off it faults
CANONICAL_LOW, CANONICAL_HIGH = 1 << 47, (1 << 64) - (1 << 47)   # [low, high) is non-canonical

_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.mmap.restype = ctypes.c_void_p
_LIBC.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long)
_LIBC.msync.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
_LIBC.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
_LIBC.fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long)


def _host_call(result: int, what: str) -> None:
    """OSError with the host errno when a libc call returned non-zero."""
    if result:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def host_protection(value: int) -> int:
    """What the host lets native code do on a page of permissions `value` without asking
    (NATIVE_LOAD, NATIVE_STORE; a write-only page and one watched for loads only take the
    exact check: runtime_helpers.guest_access_function)."""
    if value & NATIVE_STORE[0] == NATIVE_STORE[1]:
        return HOST_RW
    return HOST_READ if value & NATIVE_LOAD[0] == NATIVE_LOAD[1] else HOST_NONE


def _host_mmap_fixed(addr: int, size: int, prot: int, flags: int, fd: int, offset: int) -> None:
    """mmap(MAP_FIXED) at a host address inside the reservation; OSError with the host errno."""
    if _LIBC.mmap(addr, size, prot, flags | MAP_FIXED, fd, offset) != addr:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


class GuestFault(Exception):
    """A guest access the rules forbid: delivered to the guest, never a host crash."""

    def __init__(self, vector: int, addr: int = 0, write: bool = False, pc: int | None = None,
                 software: bool = False, error: int = 0):
        super().__init__(f"guest fault {vector} at {addr:#x}")
        self.vector, self.addr, self.write, self.pc = vector, addr, write, pc
        self.software = software      # int n / int3: pc is the next instruction
        self.error = error            # error code (low 16 bits of exit_error)


def parse_perms(perms: str | int) -> int:
    if isinstance(perms, int):
        return perms
    return (R if "r" in perms else 0) | (W if "w" in perms else 0) | (X if "x" in perms else 0)


class GuestMemory:
    def __init__(self, size: int = DEFAULT_SPACE):
        if not 0 < size <= MAX_SPACE or size & PAGE_MASK:
            raise ValueError(f"guest memory of {size:#x} bytes: it must be whole pages, at most {MAX_SPACE:#x}")
        self.size = size
        self.npages = size >> PAGE_SHIFT
        # Native code's view first, so that it takes the first gap it fits (the runtime's view,
        # as large, would take it otherwise; tests/resource/test_isolation.py places a sentinel
        # page right after the reservation by offering it such a gap).
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE
        self._reservation = mmap.mmap(-1, GUARD + size + GUARD, flags=flags)
        start = ctypes.addressof(ctypes.c_char.from_buffer(self._reservation))
        self.base = start + GUARD                                          # native code's view
        _host_call(_LIBC.mprotect(start, GUARD + size + GUARD, HOST_NONE), "guard pages")
        self._fd = os.memfd_create("dbt-guest", os.MFD_CLOEXEC)      # the guest's bytes
        self._close_fd = weakref.finalize(self, os.close, self._fd)   # (a process makes many, over time)
        os.ftruncate(self._fd, size)
        _host_mmap_fixed(self.base, size, HOST_NONE, mmap.MAP_SHARED, self._fd, 0)
        self._map = mmap.mmap(self._fd, size, flags=mmap.MAP_SHARED)     # the runtime's view
        self.view = memoryview(self._map)
        self.view_base = ctypes.addressof(ctypes.c_char.from_buffer(self._map))
        # [npages]: past the space, always 0. Anonymous memory reads as zeros and the host
        # gives a page of it only when written: a ctypes array of 16 MiB zeroed them all (~8 ms).
        self._perms_map = mmap.mmap(-1, self.npages + 1, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | MAP_NORESERVE)
        self.perms = (ctypes.c_uint8 * (self.npages + 1)).from_buffer(self._perms_map)
        self.perms_addr = ctypes.addressof(self.perms)
        self.on_code_write = None     # callable(page_index) set by the TB cache
        self.watched: dict[int, int] = {}   # page -> WATCH_R | WATCH_W bits (memory hooks)

    # -- mapping -------------------------------------------------------------
    def _pages(self, addr: int, size: int) -> range:
        if addr & PAGE_MASK:
            raise ValueError(f"address {addr:#x} is not page aligned")
        end = (addr + size + PAGE_MASK) & ~PAGE_MASK
        if addr < 0 or end > self.size:
            raise ValueError(f"range {addr:#x}+{size:#x} is outside the guest space")
        return range(addr >> PAGE_SHIFT, end >> PAGE_SHIFT)

    def _fill(self, pages: range, value: int) -> None:
        """Set the permissions of a page range in one memset (a 4 GiB range is 1M pages)."""
        ctypes.memset(self.perms_addr + pages.start, value, len(pages))
        self._protect(pages, host_protection(value))
        for page, bits in self.watched.items():
            if page in pages:
                self._set(page, self.perms[page] | bits)

    def _set(self, page: int, value: int) -> None:
        """Set one page's permissions (and its host protection, unless they stay as they are:
        marking a page of code again, at each block translated or loaded there, costs a compare)."""
        if self.perms[page] != value:
            self.perms[page] = value
            self._protect(range(page, page + 1), host_protection(value))

    def _protect(self, pages: range, prot: int) -> None:
        """Set the host protection of native code's view of these pages."""
        if not pages:
            return
        _host_call(_LIBC.mprotect(self.base + (pages.start << PAGE_SHIFT), len(pages) << PAGE_SHIFT, prot),
                   f"host protection of guest pages {pages.start:#x}-{pages.stop:#x}")

    def _remap(self, pages: range, prot: int, flags: int, fd: int, offset: int) -> None:
        """Map a range of both views to fd from offset (view: `prot`; native code: by the pages'
        permissions, a run of equal ones at a time: none, mostly, as the range was unmapped)."""
        at, length = pages.start << PAGE_SHIFT, len(pages) << PAGE_SHIFT
        _host_mmap_fixed(self.view_base + at, length, prot, flags, fd, offset)
        _host_mmap_fixed(self.base + at, length, HOST_NONE, flags, fd, offset)
        perms = ctypes.string_at(self.perms_addr + pages.start, len(pages))
        for run in re.finditer(rb"(.)\1*", perms if perms.strip(b"\0") else b"", re.DOTALL):
            self._protect(range(pages.start + run.start(), pages.start + run.end()), host_protection(run[0][0]))

    def map(self, addr: int, size: int, perms: str | int = "rw") -> None:
        self._fill(self._pages(addr, size), parse_perms(perms))

    def unmap(self, addr: int, size: int) -> None:
        """No access, and the pages read as zero when mapped again (fresh anonymous memory)."""
        pages = self._pages(addr, size)
        self._invalidate_code(pages)
        self._fill(pages, 0)
        if pages:
            self._remap(pages, HOST_RW, mmap.MAP_SHARED, self._fd, addr)
            _host_call(_LIBC.fallocate(self._fd, FALLOC_PUNCH_HOLE, addr, len(pages) << PAGE_SHIFT),
                       "zeroing unmapped guest memory")

    def map_file(self, addr: int, size: int, fd: int, offset: int, writable: bool) -> None:
        """Back [addr, addr+size) with a host file's pages from offset, shared: stores reach the
        file and the file's changes show. Not writable: the host pages are read-only, so the
        permissions must never grant W there. Pages past the file's end must stay without access
        (the host would raise SIGBUS)."""
        pages = self._pages(addr, size)
        self._invalidate_code(pages)
        if pages:
            self._remap(pages, mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0), mmap.MAP_SHARED, fd, offset)

    def sync(self, addr: int, size: int, flags: int) -> None:
        """msync(2) on a range (flags as Linux's MS_*): file-backed pages are written back."""
        pages = self._pages(addr, size)
        if pages:
            _host_call(_LIBC.msync(self.view_base + (pages.start << PAGE_SHIFT), len(pages) << PAGE_SHIFT, flags),
                       "msync")

    def protect(self, addr: int, size: int, perms: str | int) -> None:
        pages = self._pages(addr, size)
        self._invalidate_code(pages)
        self._fill(pages, parse_perms(perms))

    def _invalidate_code(self, pages: range) -> bool:
        """Drop the CODE mark (and the blocks) of these pages; True if any had code."""
        if not pages or max(ctypes.string_at(self.perms_addr + pages.start, len(pages))) < CODE:
            return False      # R|W|X < CODE: no page's value reaches CODE, so none holds code
        hit = False
        for page in pages:
            if self.perms[page] & CODE:
                hit = True
                self._set(page, self.perms[page] & ~CODE)
                if self.on_code_write is not None:
                    self.on_code_write(page)
        return hit

    def invalidate_code(self, first_page: int, last_page: int) -> bool:
        """Drop translated code on pages first..last (inclusive, clipped to the space)."""
        return self._invalidate_code(range(max(first_page, 0), min(last_page, self.npages - 1) + 1))

    def fetch_code(self, pc: int, window: int = 15) -> bytes:
        """Executable bytes from pc to its page end, plus up to `window` bytes of an executable next page."""
        self.check(pc, 1, X)
        end = (pc | PAGE_MASK) + 1
        if end < self.size and self.perms[end >> PAGE_SHIFT] & X:
            end += window
        return bytes(self.view[pc:end])

    def is_mapped(self, addr: int) -> bool:
        return 0 <= addr < self.size and self.perms[addr >> PAGE_SHIFT] & (PERMS | CODE) != 0

    # -- memory hooks ------------------------------------------------------------
    def watch(self, pages: set[int], bits: int) -> None:
        """Make guest accesses of kind `bits` (WATCH_R, WATCH_W) on these pages leave native code."""
        for page in pages:
            if 0 <= page < self.npages:
                self.watched[page] = self.watched.get(page, 0) | bits
                self._set(page, self.perms[page] | bits)

    def unwatch_all(self) -> None:
        for page in self.watched:
            self._set(page, self.perms[page] & ~(WATCH_R | WATCH_W))
        self.watched.clear()

    def watch_hit(self, addr: int, write: bool) -> bool:
        """Was an access refused at addr only because a hook watches its page (it has the permission)?"""
        page = addr >> PAGE_SHIFT
        bit, need = (WATCH_W, W) if write else (WATCH_R, R)
        return bool(self.watched.get(page, 0) & bit) and self.perms[page] & need == need

    def watched_at(self, addr: int, size: int, bit: int) -> int | None:
        """The first address of [addr, addr+size) on a page watched for `bit`, or None."""
        if not self.watched:
            return None
        for page in range(addr >> PAGE_SHIFT, ((addr + max(size, 1) - 1) >> PAGE_SHIFT) + 1):
            if self.watched.get(page, 0) & bit:
                return max(addr, page << PAGE_SHIFT)
        return None

    # -- checked access ------------------------------------------------------
    def check(self, addr: int, size: int, need: int) -> None:
        """Raise GuestFault unless every byte of [addr, addr+size) has `need`.

        The fault address is the first inaccessible byte, as CR2 holds it; an access that
        runs from canonical into non-canonical addresses reports the first non-canonical
        byte (the CPU raises #GP for it before any page fault)."""
        end = addr + size
        if addr < 0 or addr >= self.size:
            bad = CANONICAL_LOW if addr < CANONICAL_LOW < end else addr
            raise GuestFault(Vector.PF, bad, bool(need & W))
        for page in range(addr >> PAGE_SHIFT, ((min(end, self.size) - 1) >> PAGE_SHIFT) + 1):
            if self.perms[page] & need != need:
                raise GuestFault(Vector.PF, max(addr, page << PAGE_SHIFT), bool(need & W))
        if end > self.size:
            raise GuestFault(Vector.PF, self.size, bool(need & W))

    def read(self, addr: int, size: int, need: int = R) -> bytes:
        self.check(addr, size, need)
        return bytes(self.view[addr:addr + size])

    def write(self, addr: int, data: bytes) -> bool:
        """Checked write; True when it landed on a page that held translated code."""
        self.check(addr, len(data), W)
        hit = self._note_code_write(addr, len(data))
        self.view[addr:addr + len(data)] = data
        return hit

    def load(self, addr: int, size: int) -> int:
        self.check(addr, size, R)
        return int.from_bytes(self.view[addr:addr + size], "little")

    def store(self, addr: int, size: int, value: int) -> bool:
        return self.write(addr, (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))

    def _note_code_write(self, addr: int, size: int) -> bool:
        return size > 0 and self._invalidate_code(range(addr >> PAGE_SHIFT, ((addr + size - 1) >> PAGE_SHIFT) + 1))

    def holds_code(self, addr: int, size: int) -> bool:
        return any(self.perms[page] & CODE
                   for page in range(addr >> PAGE_SHIFT, ((addr + size - 1) >> PAGE_SHIFT) + 1))

    def mark_code(self, addr: int, size: int) -> None:
        for page in range(addr >> PAGE_SHIFT, ((addr + max(size, 1) - 1) >> PAGE_SHIFT) + 1):
            self._set(page, self.perms[page] | CODE)

    # -- unchecked host-side access (loaders, the runtime) ---------------------
    def poke(self, addr: int, data: bytes) -> None:
        """Write ignoring permissions (loader use); still bounds-checked."""
        if addr < 0 or addr + len(data) > self.size:
            raise GuestFault(Vector.PF, addr, True)
        self._note_code_write(addr, len(data))
        self.view[addr:addr + len(data)] = data

    def peek(self, addr: int, size: int) -> bytes:
        if addr < 0 or addr + size > self.size:
            raise GuestFault(Vector.PF, addr, False)
        return bytes(self.view[addr:addr + size])

    def close(self) -> None:
        self.view.release()
        for mapping in (self._map, self._reservation):
            try:
                mapping.close()
            except BufferError:
                pass     # a ctypes view still points in; the mapping dies with the process
        self._close_fd()
