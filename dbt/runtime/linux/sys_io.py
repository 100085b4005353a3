"""Syscalls on file descriptors: read/write and friends, close, dup, pipe, fcntl, ioctl, poll.

Data moves straight between a host fd and guest memory (memoryviews), never
through a host pointer the guest chose. Only the accessible prefix of a guest
buffer is used, as the kernel stops at the first bad page; a buffer with no
accessible byte is -EFAULT. Writing to a pipe with no reader raises SIGPIPE
in the guest as well as returning -EPIPE. A read that would block (a pipe,
a tty) or a poll while an interval timer runs waits first, so the timer's
signal can interrupt it (-EINTR, or for read a restart under SA_RESTART, as
Linux's).
"""
import errno
import fcntl
import math
import os
import select
import signal
import stat
import struct

from dbt.runtime.linux.errors import ERESTARTSYS
from dbt.runtime.linux.itimers import readable as host_readable, wait
from dbt.runtime.linux.uaccess import in_view, out_view, readable, writable, write_i32

MAX_RW_COUNT = 0x7FFFF000        # the kernel's cap on one read/write
UIO_MAXIOV = 1024
O_CLOEXEC = 0o2000000
FD_CLOEXEC = 1
IOVEC = struct.Struct("<QQ")
POLLFD = struct.Struct("<ihh")
POLLNVAL = 0x20


def s32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def s64(value: int) -> int:
    return value - (1 << 64) if value & (1 << 63) else value


def _einval() -> OSError:
    return OSError(errno.EINVAL, "invalid argument")


def _write_host(proc, host: int, data) -> int:
    try:
        return os.write(host, data)
    except BrokenPipeError:
        proc.raise_signal(signal.SIGPIPE)
        raise


# -- read / write ------------------------------------------------------------------
def _unwritable_read(host: int, count: int, offset: int | None = None) -> int:
    """read into a buffer with no writable byte: EBADF/EISDIR first; 0 at the end of a
    regular file (the kernel copies nothing); else -EFAULT."""
    os.read(host, 0) if offset is None else os.pread(host, 0, offset)
    if not count:
        return 0
    st = os.fstat(host)
    if stat.S_ISREG(st.st_mode):
        pos = os.lseek(host, 0, os.SEEK_CUR) if offset is None else offset
        if pos >= st.st_size:
            return 0
    return -errno.EFAULT


def _interrupted_wait(proc, host: int) -> bool:
    """Wait until host is readable (if reading it could block and a timer could interrupt
    the wait); True if a signal came first."""
    if proc.timers.real_left() is None or not os.get_blocking(host) or stat.S_ISREG(os.fstat(host).st_mode):
        return False
    return wait(proc, None, host_readable(host)) == "signal"


def sys_read(proc, fd, buf, count, *_):
    host = proc.fds.host(s32(fd))
    if _interrupted_wait(proc, host):
        return -ERESTARTSYS
    count = min(count, MAX_RW_COUNT)
    n = writable(proc.mem, buf, count)
    if n == 0:
        return _unwritable_read(host, count)
    return os.readv(host, [out_view(proc.mem, buf, n)])


def sys_write(proc, fd, buf, count, *_):
    host = proc.fds.host(s32(fd))
    count = min(count, MAX_RW_COUNT)
    n = readable(proc.mem, buf, count)
    if n == 0:
        _write_host(proc, host, b"")
        return -errno.EFAULT if count else 0
    return _write_host(proc, host, in_view(proc.mem, buf, n))


def sys_pread64(proc, fd, buf, count, offset, *_):
    host = proc.fds.host(s32(fd))
    if s64(offset) < 0:
        raise _einval()
    count = min(count, MAX_RW_COUNT)
    n = writable(proc.mem, buf, count)
    if n == 0:
        return _unwritable_read(host, count, offset)
    return os.preadv(host, [out_view(proc.mem, buf, n)], offset)


def sys_pwrite64(proc, fd, buf, count, offset, *_):
    host = proc.fds.host(s32(fd))
    if s64(offset) < 0:
        raise _einval()
    count = min(count, MAX_RW_COUNT)
    n = readable(proc.mem, buf, count)
    if n == 0:
        os.pwrite(host, b"", offset)
        return -errno.EFAULT if count else 0
    return os.pwrite(host, in_view(proc.mem, buf, n), offset)


def _iovecs(proc, iov, iovcnt) -> list[tuple[int, int]]:
    iovcnt = s32(iovcnt)
    if iovcnt < 0 or iovcnt > UIO_MAXIOV:
        raise _einval()
    raw = proc.mem.read(iov, IOVEC.size * iovcnt) if iovcnt else b""
    vecs = [IOVEC.unpack_from(raw, i * IOVEC.size) for i in range(iovcnt)]
    total = 0
    for _, length in vecs:
        total += length
        if length >= (1 << 63) or total >= (1 << 63):
            raise _einval()
    return vecs


def _iovec_prefix(proc, vecs, accessible, view) -> list | None:
    """Views on the accessible prefix of an iovec list (at most MAX_RW_COUNT bytes, as the
    kernel caps one call); None when its first byte is bad."""
    views, left = [], MAX_RW_COUNT
    for base, length in vecs:
        length = min(length, left)
        n = accessible(proc.mem, base, length)
        if n:
            views.append(view(proc.mem, base, n))
            left -= n
        if n < length or not left:
            break
    if not views and any(length for _, length in vecs):
        return None
    return views


def _out_views(proc, vecs) -> list[memoryview] | None:
    """Views on the writable prefix of an iovec list; None when the first byte is bad."""
    return _iovec_prefix(proc, vecs, writable, out_view)


def _in_data(proc, vecs) -> bytes | None:
    parts = _iovec_prefix(proc, vecs, readable, in_view)
    return None if parts is None else b"".join(parts)


def sys_readv(proc, fd, iov, iovcnt, *_):
    host = proc.fds.host(s32(fd))
    if _interrupted_wait(proc, host):
        return -ERESTARTSYS
    views = _out_views(proc, _iovecs(proc, iov, iovcnt))
    if views is None:
        os.read(host, 0)
        return -errno.EFAULT
    if not views:
        os.read(host, 0)
        return 0
    return os.readv(host, views)


def sys_writev(proc, fd, iov, iovcnt, *_):
    host = proc.fds.host(s32(fd))
    data = _in_data(proc, _iovecs(proc, iov, iovcnt))
    if data is None:
        _write_host(proc, host, b"")
        return -errno.EFAULT
    return _write_host(proc, host, data)


def sys_preadv(proc, fd, iov, iovcnt, offset, *_):
    host = proc.fds.host(s32(fd))
    if s64(offset) < 0:
        raise _einval()
    views = _out_views(proc, _iovecs(proc, iov, iovcnt))
    if views is None:
        return -errno.EFAULT
    return os.preadv(host, views, offset) if views else 0


def sys_pwritev(proc, fd, iov, iovcnt, offset, *_):
    host = proc.fds.host(s32(fd))
    if s64(offset) < 0:
        raise _einval()
    data = _in_data(proc, _iovecs(proc, iov, iovcnt))
    if data is None:
        return -errno.EFAULT
    return os.pwrite(host, data, offset)


def sys_lseek(proc, fd, offset, whence, *_):
    return os.lseek(proc.fds.host(s32(fd)), s64(offset), s32(whence))


def sys_sendfile(proc, out_fd, in_fd, offset_ptr, count, *_):
    out_host, in_host = proc.fds.host(s32(out_fd)), proc.fds.host(s32(in_fd))
    count = min(count, MAX_RW_COUNT)
    if not offset_ptr:
        return os.sendfile(out_host, in_host, None, count)
    offset = s64(proc.mem.load(offset_ptr, 8))
    if offset < 0:
        raise _einval()
    n = os.sendfile(out_host, in_host, offset, count)
    proc.mem.store(offset_ptr, 8, offset + n)
    return n


# -- descriptors ------------------------------------------------------------------
def sys_close(proc, fd, *_):
    proc.fds.close(s32(fd))
    return 0


def sys_dup(proc, fd, *_):
    entry = proc.fds.get(s32(fd))
    return proc.fds.install(os.dup(entry.host), False, entry.path)


def _dup_to(proc, old, new, cloexec):
    entry = proc.fds.get(old)
    if new < 0 or new >= proc.fds.limit:
        raise OSError(errno.EBADF, "bad file descriptor")
    proc.fds.place(new, os.dup(entry.host), cloexec, entry.path)
    return new


def sys_dup2(proc, old, new, *_):
    old, new = s32(old), s32(new)
    if old == new:
        proc.fds.get(old)
        return new
    return _dup_to(proc, old, new, False)


def sys_dup3(proc, old, new, flags, *_):
    old, new = s32(old), s32(new)
    if flags & ~O_CLOEXEC or old == new:
        raise _einval()
    return _dup_to(proc, old, new, bool(flags & O_CLOEXEC))


def sys_pipe2(proc, fds_ptr, flags, *_):
    r, w = os.pipe2(flags | O_CLOEXEC)
    cloexec = bool(flags & O_CLOEXEC)
    rfd = proc.fds.install(r, cloexec)
    try:
        wfd = proc.fds.install(w, cloexec)
    except OSError:
        proc.fds.close(rfd)
        raise
    try:
        write_i32(proc.mem, fds_ptr, rfd)
        write_i32(proc.mem, fds_ptr + 4, wfd)
    except Exception:
        proc.fds.close(rfd)
        proc.fds.close(wfd)
        raise
    return 0


def sys_pipe(proc, fds_ptr, *_):
    return sys_pipe2(proc, fds_ptr, 0)


# -- fcntl -------------------------------------------------------------------------
F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL = 0, 1, 2, 3, 4
F_DUPFD_CLOEXEC = 1030
LOCK_CMDS = {5, 6, 7, 36, 37, 38}                 # F_GETLK/SETLK/SETLKW and the OFD ones
INT_CMDS = {9, 11, 1024, 1025, 1031, 1032, 1033, 1034}   # GETOWN GETSIG leases pipe size seals
FLOCK_SIZE = 32


def sys_fcntl(proc, fd, cmd, arg, *_):
    fd, cmd = s32(fd), s32(cmd)
    entry = proc.fds.get(fd)
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        start = s32(arg)
        if start < 0 or start >= proc.fds.limit:
            raise _einval()
        return proc.fds.install(os.dup(entry.host), cmd == F_DUPFD_CLOEXEC, entry.path, start)
    if cmd == F_GETFD:
        return FD_CLOEXEC if entry.cloexec else 0
    if cmd == F_SETFD:
        entry.cloexec = bool(arg & FD_CLOEXEC)
        return 0
    if cmd in (F_GETFL, F_SETFL) or cmd in INT_CMDS:
        return fcntl.fcntl(entry.host, cmd, s32(arg))
    if cmd in LOCK_CMDS:
        data = fcntl.fcntl(entry.host, cmd, proc.mem.read(arg, FLOCK_SIZE))
        if cmd in (5, 36):
            proc.mem.write(arg, data)
        return 0
    raise _einval()


# -- ioctl -------------------------------------------------------------------------
# request -> (size of the argument struct, direction): "out" the kernel fills it,
# "in" it reads it, "int" the argument is a value.
IOCTLS = {
    0x5401: (36, "out"),   # TCGETS
    0x5402: (36, "in"),    # TCSETS
    0x5403: (36, "in"),    # TCSETSW
    0x5404: (36, "in"),    # TCSETSF
    0x5409: (0, "int"),    # TCSBRK
    0x540A: (0, "int"),    # TCXONC
    0x540B: (0, "int"),    # TCFLSH
    0x540F: (4, "out"),    # TIOCGPGRP
    0x5410: (4, "in"),     # TIOCSPGRP
    0x5413: (8, "out"),    # TIOCGWINSZ
    0x5414: (8, "in"),     # TIOCSWINSZ
    0x541B: (4, "out"),    # FIONREAD
    0x5421: (4, "in"),     # FIONBIO
    0x5429: (4, "out"),    # TIOCGSID
}
FIONCLEX, FIOCLEX = 0x5450, 0x5451


def sys_ioctl(proc, fd, request, arg, *_):
    entry = proc.fds.get(s32(fd))
    request &= 0xFFFFFFFF
    if request in (FIOCLEX, FIONCLEX):
        entry.cloexec = request == FIOCLEX
        return 0
    shape = IOCTLS.get(request)
    if shape is None:
        return -errno.ENOTTY
    size, direction = shape
    if direction == "int":
        return fcntl.ioctl(entry.host, request, s32(arg))
    if direction == "in":
        fcntl.ioctl(entry.host, request, bytes(proc.mem.read(arg, size)))
        return 0
    out = bytearray(size)
    fcntl.ioctl(entry.host, request, out, True)
    proc.mem.write(arg, bytes(out))
    return 0


# -- poll --------------------------------------------------------------------------
def _poll_wait(proc, poller, timeout_ms: int | None) -> dict | None:
    """poller.poll(timeout_ms) as {host fd: revents}; None when a timer's signal interrupts it."""
    if timeout_ms == 0 or proc.timers.real_left() is None:
        return dict(poller.poll(timeout_ms))
    found = {}

    def block(step):
        found.update(poller.poll(None if step is None else math.ceil(step * 1000)))
        return bool(found)
    end = wait(proc, None if timeout_ms is None else timeout_ms / 1000, block)
    return None if end == "signal" else found


def _poll(proc, fds_ptr, nfds, timeout_ms):
    if nfds > proc.fds.limit:
        raise _einval()
    raw = bytearray(proc.mem.read(fds_ptr, POLLFD.size * nfds)) if nfds else bytearray()
    entries = [POLLFD.unpack_from(raw, i * POLLFD.size) for i in range(nfds)]
    poller, hosts = select.poll(), {}
    for fd, events, _ in entries:
        entry = proc.fds.files.get(fd) if fd >= 0 else None
        if entry is not None:
            hosts[entry.host] = hosts.get(entry.host, 0) | (events & 0xFFFF)
    for host, events in hosts.items():
        poller.register(host, events)
    ready = _poll_wait(proc, poller, timeout_ms) if hosts or timeout_ms != 0 else {}
    if ready is None:
        return -errno.EINTR
    count = 0
    for i, (fd, events, _) in enumerate(entries):
        if fd < 0:
            revents = 0
        elif fd not in proc.fds.files:
            revents = POLLNVAL
        else:
            revents = ready.get(proc.fds.files[fd].host, 0) & ((events & 0xFFFF) | 0x38)   # ERR HUP NVAL
        count += revents != 0
        POLLFD.pack_into(raw, i * POLLFD.size, fd, events, revents - 0x10000 if revents & 0x8000 else revents)
    if nfds:
        proc.mem.write(fds_ptr, bytes(raw))
    return count


def sys_poll(proc, fds_ptr, nfds, timeout, *_):
    timeout = s32(timeout)
    return _poll(proc, fds_ptr, nfds, None if timeout < 0 else timeout)


def sys_ppoll(proc, fds_ptr, nfds, tsp, *_):
    timeout = None
    if tsp:
        sec, nsec = struct.unpack("<qq", proc.mem.read(tsp, 16))
        if sec < 0 or not 0 <= nsec < 1_000_000_000:
            raise _einval()
        timeout = sec * 1000 + (nsec + 999_999) // 1_000_000
    return _poll(proc, fds_ptr, nfds, timeout)


# -- syncing and sizes --------------------------------------------------------------
def sys_fsync(proc, fd, *_):
    os.fsync(proc.fds.host(s32(fd)))
    return 0


def sys_fdatasync(proc, fd, *_):
    os.fdatasync(proc.fds.host(s32(fd)))
    return 0


def sys_ftruncate(proc, fd, length, *_):
    os.ftruncate(proc.fds.host(s32(fd)), s64(length))
    proc.vm.refresh_shared()
    return 0


def sys_sync(proc, *_):
    os.sync()
    return 0


SYSCALLS = {
    "read": sys_read, "write": sys_write, "pread64": sys_pread64, "pwrite64": sys_pwrite64,
    "readv": sys_readv, "writev": sys_writev, "preadv": sys_preadv, "pwritev": sys_pwritev,
    "lseek": sys_lseek, "sendfile": sys_sendfile, "close": sys_close, "dup": sys_dup,
    "dup2": sys_dup2, "dup3": sys_dup3, "pipe": sys_pipe, "pipe2": sys_pipe2, "fcntl": sys_fcntl,
    "ioctl": sys_ioctl, "poll": sys_poll, "ppoll": sys_ppoll, "fsync": sys_fsync,
    "fdatasync": sys_fdatasync, "ftruncate": sys_ftruncate, "sync": sys_sync,
}
