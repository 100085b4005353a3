"""Copying between guest memory and syscalls, with the kernel's rules.

A bad guest pointer raises GuestFault (the dispatcher turns it into -EFAULT),
never a host error. Bulk reads and writes go straight between a host fd and
guest memory through memoryviews; a write that lands on translated code drops
that code first.
"""
import errno
import struct

from dbt.runtime.memory import PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, R, W

PATH_MAX = 4096
U64 = struct.Struct("<Q")
I32 = struct.Struct("<i")


def read_cstring(mem, addr: int, limit: int = PATH_MAX) -> bytes:
    """The NUL-terminated string at addr; ENAMETOOLONG when it reaches `limit` bytes."""
    out = bytearray()
    while True:
        chunk = mem.read(addr, PAGE_SIZE - (addr & PAGE_MASK))
        end = chunk.find(b"\0")
        out += chunk if end < 0 else chunk[:end]
        if len(out) >= limit:
            raise OSError(errno.ENAMETOOLONG, "name too long")
        if end >= 0:
            return bytes(out)
        addr += len(chunk)


def read_path(mem, addr: int) -> bytes:
    """A path argument: EFAULT for a bad pointer, ENOENT for "", ENAMETOOLONG past PATH_MAX."""
    path = read_cstring(mem, addr)
    if not path:
        raise OSError(errno.ENOENT, "empty path")
    return path


def write_u64(mem, addr: int, value: int) -> None:
    mem.write(addr, U64.pack(value & ((1 << 64) - 1)))


def write_i32(mem, addr: int, value: int) -> None:
    mem.write(addr, I32.pack(value))


def accessible(mem, addr: int, count: int, need: int) -> int:
    """How many bytes from addr (at most count) are contiguously accessible with `need`."""
    if count <= 0 or addr < 0 or addr >= mem.size:
        return 0
    end = min(addr + count, mem.size)
    perms = mem.perms
    page, last = addr >> PAGE_SHIFT, (end - 1) >> PAGE_SHIFT
    while page <= last and perms[page] & need == need:
        page += 1
    return max(0, min(end, page << PAGE_SHIFT) - addr)


def readable(mem, addr: int, count: int) -> int:
    return accessible(mem, addr, count, R)


def writable(mem, addr: int, count: int) -> int:
    return accessible(mem, addr, count, W)


def out_view(mem, addr: int, count: int) -> memoryview:
    """A view on guest memory the host may write into (already checked writable);
    translated code on those pages is dropped first."""
    if count and mem.holds_code(addr, count):
        mem.invalidate_code(addr >> PAGE_SHIFT, (addr + count - 1) >> PAGE_SHIFT)
    return mem.view[addr:addr + count]


def in_view(mem, addr: int, count: int) -> memoryview:
    """A read-only view on guest memory (already checked readable)."""
    return mem.view[addr:addr + count]
