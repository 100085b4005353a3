"""Memory syscalls: brk, mmap, munmap, mprotect, mremap, madvise, msync, mlock.

Addresses dbt chooses lie inside the guest space, top-down below the mmap
area's top (under the stack); hints and MAP_FIXED are honoured as Linux does.
A MAP_PRIVATE file mapping is a copy of the file's bytes; a MAP_SHARED one
maps the host file itself into the guest space (vma.SharedFile), so stores
reach the file and msync writes them back. Anonymous MAP_SHARED memory is
plain memory (one process). Errno results follow the kernel's order of checks.
The guest's mappings (image, stack, heap, mmap areas) together stay within
its RLIMIT_AS and dbt's --max-memory: a change that would exceed them fails
with ENOMEM (brk returns the old break), as the kernel's may_expand_vm.
"""
import errno
import fcntl
import os
import stat

from dbt.runtime.linux.sys_io import s32
from dbt.runtime.linux.sys_proc import RLIMIT_AS
from dbt.runtime.linux.vma import PROT_WRITE, SharedFile, page_up
from dbt.runtime.memory import PAGE_MASK

MAP_SHARED, MAP_PRIVATE, MAP_SHARED_VALIDATE, MAP_TYPE = 0x1, 0x2, 0x3, 0xF
MAP_FIXED, MAP_ANONYMOUS, MAP_FIXED_NOREPLACE = 0x10, 0x20, 0x100000
MMAP_MIN_ADDR = 0x10000
PROT_ALL = 0x7
PROT_GROWSDOWN, PROT_GROWSUP = 0x01000000, 0x02000000
MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP = 1, 2, 4
MADV_DONTNEED = 4
MADVICE = set(range(0, 5)) | set(range(8, 26)) | {100, 101}
O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR = 3, 0, 1, 2
DEV_ZERO = os.makedev(1, 5)


def _err(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def memory_limit(proc) -> int:
    """The most bytes the guest may have mapped: its RLIMIT_AS, within --max-memory."""
    limit = proc.rlimits[RLIMIT_AS][0]
    return limit if proc.max_memory is None else min(limit, proc.max_memory)


def _may_expand(proc, start: int, end: int, released: int = 0) -> bool:
    """Would mapping [start, end) (replacing what is there) and unmapping `released`
    other bytes stay within memory_limit?"""
    vm = proc.vm
    grown = (end - start) - vm.mapped_bytes(start, end) - released
    return vm.mapped_bytes() + grown <= memory_limit(proc)


# -- brk ------------------------------------------------------------------------------
def sys_brk(proc, addr, *_):
    heap = proc.heap
    if addr < heap.start:
        return heap.cur
    old_end, new_end = page_up(heap.cur), page_up(addr)
    if new_end > old_end:
        if new_end > proc.vm.top or not proc.vm.is_free(old_end, new_end):
            return heap.cur                # would run into another mapping
        if not _may_expand(proc, old_end, new_end):
            return heap.cur
        proc.vm.map(old_end, new_end, PROT_ALL & 3, "[heap]")
    elif new_end < old_end:
        proc.vm.unmap(new_end, old_end)
    heap.cur = addr
    return addr


# -- mmap -----------------------------------------------------------------------------
def _file_source(proc, fd, prot, flags, offset, length) -> tuple[bytes, str, SharedFile | None]:
    """What a file mapping holds: (a private copy's bytes, the area's name, the shared backing)."""
    entry = proc.fds.get(fd)
    st = os.fstat(entry.host)
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISCHR(st.st_mode)):
        raise _err(errno.ENODEV)
    mode = fcntl.fcntl(entry.host, fcntl.F_GETFL) & O_ACCMODE
    shared = (flags & MAP_TYPE) != MAP_PRIVATE
    if mode == O_WRONLY or shared and prot & PROT_WRITE and mode == O_RDONLY:
        raise _err(errno.EACCES)
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == DEV_ZERO:
        return b"", "", None
    if not stat.S_ISREG(st.st_mode):
        raise _err(errno.ENODEV)
    name = (entry.path or b"").decode(errors="replace")
    if shared:
        return b"", name, SharedFile.of(entry.host, offset, mode == O_RDWR)
    return os.pread(entry.host, length, offset), name, None


def _place(proc, addr, length, flags) -> int:
    vm = proc.vm
    if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):
        if addr & PAGE_MASK:
            raise _err(errno.EINVAL)
        if addr + length > proc.mem.size:
            raise _err(errno.ENOMEM)
        if addr < MMAP_MIN_ADDR and os.geteuid() != 0:      # CAP_SYS_RAWIO may map low pages
            raise _err(errno.EPERM)
        if flags & MAP_FIXED_NOREPLACE and not vm.is_free(addr, addr + length):
            raise _err(errno.EEXIST)
        return addr
    if addr:
        hint = page_up(addr)
        if hint >= MMAP_MIN_ADDR and vm.is_free(hint, hint + length):
            return hint
    found = vm.find_free(length)
    if found is None:
        raise _err(errno.ENOMEM)
    return found


def sys_mmap(proc, addr, length, prot, flags, fd, offset):
    prot, flags = prot & 0xFFFFFFFF, flags & 0xFFFFFFFF
    if offset & PAGE_MASK:
        raise _err(errno.EINVAL)
    anonymous = bool(flags & MAP_ANONYMOUS)
    if not anonymous:
        proc.fds.get(s32(fd))
    if not length:
        raise _err(errno.EINVAL)
    length = page_up(length)
    if length > proc.mem.size:
        raise _err(errno.ENOMEM)
    kind = flags & MAP_TYPE
    if kind not in (MAP_SHARED, MAP_PRIVATE) and not (kind == MAP_SHARED_VALIDATE and not anonymous):
        raise _err(errno.EINVAL)
    if offset + length >= 1 << 63:
        raise _err(errno.EOVERFLOW)
    data, name, shared = b"", "", None
    if not anonymous:
        data, name, shared = _file_source(proc, s32(fd), prot, flags, offset, length)
    try:
        start = _place(proc, addr, length, flags)
        if not _may_expand(proc, start, start + length):
            raise _err(errno.ENOMEM)
    except OSError:
        if shared is not None:
            os.close(shared.fd)
        raise
    proc.vm.map(start, start + length, prot, name, shared)
    if data:
        proc.mem.poke(start, data)
    return start


def sys_munmap(proc, addr, length, *_):
    if addr & PAGE_MASK or addr > proc.mem.size or length > proc.mem.size - addr:
        raise _err(errno.EINVAL)
    length = page_up(length)
    if not length:
        raise _err(errno.EINVAL)
    proc.vm.unmap(addr, addr + length)
    return 0


def sys_mprotect(proc, addr, length, prot, *_):
    if addr & PAGE_MASK or prot & ~(PROT_ALL | PROT_GROWSDOWN | PROT_GROWSUP | 0x8):
        raise _err(errno.EINVAL)
    length = page_up(length)
    if not length:
        return 0
    end = addr + length
    if end > proc.mem.size or not proc.vm.covered(addr, end):
        raise _err(errno.ENOMEM)
    if prot & PROT_WRITE and any(a.shared is not None and not a.shared.writable
                                 for a in proc.vm.overlapping(addr, end)):
        raise _err(errno.EACCES)      # a shared mapping of a file not open for writing
    proc.vm.protect(addr, end, prot & PROT_ALL)
    return 0


def sys_mremap(proc, old, old_size, new_size, flags, new_addr, *_):
    vm = proc.vm
    if old & PAGE_MASK or flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP):
        raise _err(errno.EINVAL)
    if flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) and not flags & MREMAP_MAYMOVE:
        raise _err(errno.EINVAL)
    old_size, new_size = page_up(old_size), page_up(new_size)
    if not new_size or not old_size:
        raise _err(errno.EINVAL)
    area = vm.area_at(old)
    if area is None or old + old_size > area.end:
        raise _err(errno.EFAULT)
    if flags & MREMAP_FIXED:
        if new_addr & PAGE_MASK or new_addr + new_size > proc.mem.size:
            raise _err(errno.EINVAL)
        if new_addr < old + old_size and old < new_addr + new_size:
            raise _err(errno.EINVAL)
        return _move(proc, area, old, old_size, new_size, new_addr, flags)
    if new_size <= old_size:
        vm.unmap(old + new_size, old + old_size)
        return old
    if not _may_expand(proc, old + old_size, old + new_size):
        raise _err(errno.ENOMEM)
    if old + new_size <= proc.mem.size and vm.is_free(old + old_size, old + new_size):
        vm.map(old + old_size, old + new_size, area.prot, area.name, _backing(area, old + old_size))
        return old
    if not flags & MREMAP_MAYMOVE:
        raise _err(errno.ENOMEM)
    target = vm.find_free(new_size)
    if target is None:
        raise _err(errno.ENOMEM)
    return _move(proc, area, old, old_size, new_size, target, flags)


def _backing(area, addr: int) -> SharedFile | None:
    """A new backing for a shared file area's pages from addr on (None for other areas)."""
    if area.shared is None:
        return None
    return SharedFile.of(area.shared.fd, area.shared.offset + addr - area.start, area.shared.writable)


def _move(proc, area, old, old_size, new_size, target, flags):
    vm, mem = proc.vm, proc.mem
    released = 0 if flags & MREMAP_DONTUNMAP else old_size
    if not _may_expand(proc, target, target + new_size, released):
        raise _err(errno.ENOMEM)
    data = mem.peek(old, min(old_size, new_size)) if area.shared is None else b""
    vm.map(target, target + new_size, area.prot, area.name, _backing(area, old))
    if data:
        mem.poke(target, data)
    if flags & MREMAP_DONTUNMAP:
        vm.zero(old, old + old_size)
    else:
        vm.unmap(old, old + old_size)
    return target


def sys_madvise(proc, addr, length, advice, *_):
    advice = s32(advice)
    if addr & PAGE_MASK or advice not in MADVICE:
        raise _err(errno.EINVAL)
    end = addr + page_up(length)
    if end == addr:
        return 0
    if advice == MADV_DONTNEED:
        proc.vm.zero(addr, end)
    if not proc.vm.covered(addr, end):
        raise _err(errno.ENOMEM)
    return 0


def sys_msync(proc, addr, length, flags, *_):
    if addr & PAGE_MASK or flags & ~7 or (flags & 1 and flags & 4):
        raise _err(errno.EINVAL)
    end = addr + page_up(length)
    if end > addr and not proc.vm.covered(addr, end):
        raise _err(errno.ENOMEM)
    for area in proc.vm.overlapping(addr, end):
        if area.shared is not None:
            start = max(area.start, addr)
            proc.mem.sync(start, min(area.end, end) - start, flags)
    return 0


def sys_mlock(proc, addr, length, *_):
    start, end = addr & ~PAGE_MASK, page_up(addr + length)
    if end > start and not proc.vm.covered(start, end):
        raise _err(errno.ENOMEM)
    return 0


def sys_mlockall(proc, flags, *_):
    return 0 if flags and not flags & ~7 else -errno.EINVAL


def sys_munlockall(proc, *_):
    return 0


SYSCALLS = {
    "brk": sys_brk, "mmap": sys_mmap, "munmap": sys_munmap, "mprotect": sys_mprotect,
    "mremap": sys_mremap, "madvise": sys_madvise, "msync": sys_msync, "mlock": sys_mlock,
    "munlock": sys_mlock, "mlockall": sys_mlockall, "munlockall": sys_munlockall,
}
