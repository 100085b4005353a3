"""Syscalls that name files by path: open, stat, directories, links, renames, permissions.

Every guest path goes through the resolver (paths.py) first, so --root
confinement holds for each of them; the host is then handed a resolved path
and told not to follow a final symlink (the resolver already did, or the call
asked not to). Structs (stat, statx, statfs, dirent64) are the x86-64 kernel's.
"""
import errno
import os
import stat
import struct

from dbt.runtime.linux.hostsys import host_syscall
from dbt.runtime.linux.paths import AT_FDCWD
from dbt.runtime.linux.sys_io import s32, s64
from dbt.runtime.linux.uaccess import read_cstring, read_path, writable

O_WRONLY, O_ACCMODE, O_CREAT, O_EXCL, O_TRUNC = 0o1, 0o3, 0o100, 0o200, 0o1000
O_NOFOLLOW, O_CLOEXEC = 0o400000, 0o2000000
AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR, AT_EACCESS = 0x100, 0x200, 0x200
AT_SYMLINK_FOLLOW, AT_NO_AUTOMOUNT, AT_EMPTY_PATH = 0x400, 0x800, 0x1000
AT_STATX_SYNC_TYPE = 0x6000
STAT = struct.Struct("<QQQIIIiQqqqqQqQqQ24x")
STATX_SIZE, STATFS_SIZE = 256, 120
GETDENTS_CAP = 1 << 20


def _err(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def pack_stat(st: os.stat_result) -> bytes:
    times = []
    for ns in (st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns):
        times += divmod(ns, 1_000_000_000)
    return STAT.pack(st.st_dev, st.st_ino, st.st_nlink, st.st_mode, st.st_uid, st.st_gid, 0,
                     st.st_rdev, st.st_size, st.st_blksize, st.st_blocks, *times)


def _at(proc, dirfd, ptr, follow=True):
    return proc.paths.at(s32(dirfd), read_path(proc.mem, ptr), follow)


def _nofollow(res) -> int:
    """The host flag that stops it following a final symlink (not for the guest's own /proc files)."""
    return 0 if res.override else AT_SYMLINK_NOFOLLOW


# The last component of a path that creates or removes a name must be a plain name;
# for "/", "." and ".." each call has its own errno, as the kernel's.
def _named(proc, dirfd, ptr, errs: tuple[int, int, int]):
    path = read_path(proc.mem, ptr)
    base = path.rstrip(b"/")
    kind = 0 if not base else {b".": 1, b"..": 2}.get(base.rsplit(b"/", 1)[-1])
    res = proc.paths.at(s32(dirfd), path, follow=False)
    if kind is not None:
        raise _err(errs[kind])
    return res


RMDIR_ERRS = (errno.EBUSY, errno.EINVAL, errno.ENOTEMPTY)
UNLINK_ERRS = (errno.EISDIR,) * 3
CREATE_ERRS = (errno.EEXIST,) * 3
RENAME_ERRS = (errno.EBUSY,) * 3


# -- open ---------------------------------------------------------------------------
def sys_openat(proc, dirfd, ptr, flags, mode, *_):
    path = read_path(proc.mem, ptr)
    flags &= 0xFFFFFFFF
    proc.fds.lowest_free()                         # EMFILE before anything is created
    follow = not flags & O_NOFOLLOW and not (flags & O_CREAT and flags & O_EXCL)
    res = proc.paths.at(s32(dirfd), path, follow)
    if res.generated is not None:
        os.close(os.open(res.host, flags & O_ACCMODE | O_CLOEXEC))      # the host's permission check
        host = _open_generated(res.generated())
    else:
        hflags = flags | O_CLOEXEC | (0 if res.override else O_NOFOLLOW)
        host = os.open(res.host, hflags, mode & 0o7777)
    return proc.fds.install(host, bool(flags & O_CLOEXEC), res.guest)


def _open_generated(content: bytes) -> int:
    """A read-only host fd on content dbt made up (/proc/self/cmdline), in a memfd."""
    fd = os.memfd_create("dbt-proc-self", os.MFD_CLOEXEC)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view):]
        return os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(fd)


def sys_open(proc, ptr, flags, mode, *_):
    return sys_openat(proc, AT_FDCWD, ptr, flags, mode)


def sys_creat(proc, ptr, mode, *_):
    return sys_openat(proc, AT_FDCWD, ptr, O_CREAT | O_WRONLY | O_TRUNC, mode)


# -- stat -----------------------------------------------------------------------------
def _stat_target(proc, dirfd, ptr, flags):
    """os.stat of what a *at call with these flags names (AT_EMPTY_PATH: dirfd itself)."""
    path = read_cstring(proc.mem, ptr) if ptr or not flags & AT_EMPTY_PATH else b""
    if not path and flags & AT_EMPTY_PATH:
        if s32(dirfd) == AT_FDCWD:
            return os.stat(proc.paths.host_of(proc.paths.cwd))
        return os.fstat(proc.fds.host(s32(dirfd)))
    res = proc.paths.at(s32(dirfd), path or read_path(proc.mem, ptr), not flags & AT_SYMLINK_NOFOLLOW)
    return os.stat(res.host, follow_symlinks=res.override)


def sys_newfstatat(proc, dirfd, ptr, buf, flags, *_):
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH):
        raise _err(errno.EINVAL)
    proc.mem.write(buf, pack_stat(_stat_target(proc, dirfd, ptr, flags)))
    return 0


def sys_stat(proc, ptr, buf, *_):
    return sys_newfstatat(proc, AT_FDCWD, ptr, buf, 0)


def sys_lstat(proc, ptr, buf, *_):
    return sys_newfstatat(proc, AT_FDCWD, ptr, buf, AT_SYMLINK_NOFOLLOW)


def sys_fstat(proc, fd, buf, *_):
    proc.mem.write(buf, pack_stat(os.fstat(proc.fds.host(s32(fd)))))
    return 0


def sys_statx(proc, dirfd, ptr, flags, mask, buf, *_):
    flags &= 0xFFFFFFFF
    if (flags & AT_STATX_SYNC_TYPE) == AT_STATX_SYNC_TYPE or mask & 0x80000000 or \
            flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH | AT_STATX_SYNC_TYPE):
        raise _err(errno.EINVAL)
    out = bytearray(STATX_SIZE)
    path = read_cstring(proc.mem, ptr) if ptr or not flags & AT_EMPTY_PATH else b""
    if not path and flags & AT_EMPTY_PATH:
        if s32(dirfd) == AT_FDCWD:
            host_syscall("statx", AT_FDCWD, proc.paths.host_of(proc.paths.cwd), flags & ~AT_EMPTY_PATH,
                         mask & 0xFFFFFFFF, out)
        else:
            host_syscall("statx", proc.fds.host(s32(dirfd)), b"", flags, mask & 0xFFFFFFFF, out)
    else:
        res = proc.paths.at(s32(dirfd), path or read_path(proc.mem, ptr), not flags & AT_SYMLINK_NOFOLLOW)
        hflags = (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) | _nofollow(res)
        host_syscall("statx", AT_FDCWD, res.host, hflags, mask & 0xFFFFFFFF, out)
    proc.mem.write(buf, bytes(out))
    return 0


def sys_statfs(proc, ptr, buf, *_):
    res = _at(proc, AT_FDCWD, ptr)
    out = bytearray(STATFS_SIZE)
    host_syscall("statfs", res.host, out)
    proc.mem.write(buf, bytes(out))
    return 0


def sys_fstatfs(proc, fd, buf, *_):
    out = bytearray(STATFS_SIZE)
    host_syscall("fstatfs", proc.fds.host(s32(fd)), out)
    proc.mem.write(buf, bytes(out))
    return 0


# -- access, links ------------------------------------------------------------------------
def sys_faccessat2(proc, dirfd, ptr, mode, flags, *_):
    if mode & ~7 or flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise _err(errno.EINVAL)
    res = _at(proc, dirfd, ptr, not flags & AT_SYMLINK_NOFOLLOW)
    return host_syscall("faccessat2", AT_FDCWD, res.host, mode, (flags & AT_EACCESS) | _nofollow(res))


def sys_faccessat(proc, dirfd, ptr, mode, *_):
    return sys_faccessat2(proc, dirfd, ptr, mode, 0)


def sys_access(proc, ptr, mode, *_):
    return sys_faccessat2(proc, AT_FDCWD, ptr, mode, 0)


def sys_readlinkat(proc, dirfd, ptr, buf, size, *_):
    size = s32(size)
    res = _at(proc, dirfd, ptr, follow=False)
    if size <= 0:
        raise _err(errno.EINVAL)
    text = proc.paths.readlink(res)[:size]
    proc.mem.write(buf, text)
    return len(text)


def sys_readlink(proc, ptr, buf, size, *_):
    return sys_readlinkat(proc, AT_FDCWD, ptr, buf, size)


def sys_symlinkat(proc, target_ptr, dirfd, ptr, *_):
    target = read_path(proc.mem, target_ptr)
    res = _named(proc, dirfd, ptr, CREATE_ERRS)
    os.symlink(target, res.host)
    return 0


def sys_symlink(proc, target_ptr, ptr, *_):
    return sys_symlinkat(proc, target_ptr, AT_FDCWD, ptr)


def sys_linkat(proc, olddirfd, old_ptr, newdirfd, new_ptr, flags, *_):
    if flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH):
        raise _err(errno.EINVAL)
    old = _at(proc, olddirfd, old_ptr, bool(flags & AT_SYMLINK_FOLLOW))
    new = _named(proc, newdirfd, new_ptr, CREATE_ERRS)
    host_syscall("linkat", AT_FDCWD, old.host, AT_FDCWD, new.host, AT_SYMLINK_FOLLOW if old.override else 0)
    return 0


def sys_link(proc, old_ptr, new_ptr, *_):
    return sys_linkat(proc, AT_FDCWD, old_ptr, AT_FDCWD, new_ptr, 0)


# -- directories, names -----------------------------------------------------------------
def sys_mkdirat(proc, dirfd, ptr, mode, *_):
    os.mkdir(_named(proc, dirfd, ptr, CREATE_ERRS).host, mode & 0o7777)
    return 0


def sys_mkdir(proc, ptr, mode, *_):
    return sys_mkdirat(proc, AT_FDCWD, ptr, mode)


def sys_mknodat(proc, dirfd, ptr, mode, dev, *_):
    os.mknod(_named(proc, dirfd, ptr, CREATE_ERRS).host, mode & 0xFFFFFFFF, dev & 0xFFFFFFFF)
    return 0


def sys_mknod(proc, ptr, mode, dev, *_):
    return sys_mknodat(proc, AT_FDCWD, ptr, mode, dev)


def sys_unlinkat(proc, dirfd, ptr, flags, *_):
    if flags & ~AT_REMOVEDIR:
        raise _err(errno.EINVAL)
    if flags & AT_REMOVEDIR:
        os.rmdir(_named(proc, dirfd, ptr, RMDIR_ERRS).host)
    else:
        os.unlink(_named(proc, dirfd, ptr, UNLINK_ERRS).host)
    return 0


def sys_unlink(proc, ptr, *_):
    return sys_unlinkat(proc, AT_FDCWD, ptr, 0)


def sys_rmdir(proc, ptr, *_):
    return sys_unlinkat(proc, AT_FDCWD, ptr, AT_REMOVEDIR)


def sys_renameat2(proc, olddirfd, old_ptr, newdirfd, new_ptr, flags, *_):
    old = _named(proc, olddirfd, old_ptr, RENAME_ERRS)
    new = _named(proc, newdirfd, new_ptr, RENAME_ERRS)
    return host_syscall("renameat2", AT_FDCWD, old.host, AT_FDCWD, new.host, flags & 0xFFFFFFFF)


def sys_renameat(proc, olddirfd, old_ptr, newdirfd, new_ptr, *_):
    return sys_renameat2(proc, olddirfd, old_ptr, newdirfd, new_ptr, 0)


def sys_rename(proc, old_ptr, new_ptr, *_):
    return sys_renameat2(proc, AT_FDCWD, old_ptr, AT_FDCWD, new_ptr, 0)


def sys_getdents64(proc, fd, dirp, count, *_):
    host = proc.fds.host(s32(fd))
    n = min(writable(proc.mem, dirp, count & 0xFFFFFFFF), GETDENTS_CAP)
    if n == 0:
        return -errno.EFAULT if count else -errno.EINVAL
    out = bytearray(n)
    size = host_syscall("getdents64", host, out, n)
    proc.mem.write(dirp, bytes(out[:size]))
    return size


def sys_getcwd(proc, buf, size, *_):
    cwd = proc.paths.cwd + b"\0"
    if size < len(cwd):
        raise _err(errno.ERANGE)
    proc.mem.write(buf, cwd)
    return len(cwd)


def sys_chdir(proc, ptr, *_):
    proc.paths.chdir(_at(proc, AT_FDCWD, ptr))
    return 0


def sys_fchdir(proc, fd, *_):
    entry = proc.fds.get(s32(fd))
    if entry.path is None or not stat.S_ISDIR(os.fstat(entry.host).st_mode):
        raise _err(errno.ENOTDIR)
    proc.paths.cwd = entry.path
    return 0


# -- attributes ------------------------------------------------------------------------------
def sys_truncate(proc, ptr, length, *_):
    os.truncate(_at(proc, AT_FDCWD, ptr).host, s64(length))
    proc.vm.refresh_shared()
    return 0


def sys_fchmodat(proc, dirfd, ptr, mode, *_):
    os.chmod(_at(proc, dirfd, ptr).host, mode & 0o7777)
    return 0


def sys_chmod(proc, ptr, mode, *_):
    return sys_fchmodat(proc, AT_FDCWD, ptr, mode)


def sys_fchmod(proc, fd, mode, *_):
    os.fchmod(proc.fds.host(s32(fd)), mode & 0o7777)
    return 0


def sys_fchownat(proc, dirfd, ptr, uid, gid, flags, *_):
    if flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH):
        raise _err(errno.EINVAL)
    path = read_cstring(proc.mem, ptr)
    if not path and flags & AT_EMPTY_PATH and s32(dirfd) != AT_FDCWD:
        os.fchown(proc.fds.host(s32(dirfd)), s32(uid), s32(gid))
        return 0
    res = proc.paths.at(s32(dirfd), path or read_path(proc.mem, ptr), not flags & AT_SYMLINK_NOFOLLOW)
    os.chown(res.host, s32(uid), s32(gid), follow_symlinks=res.override)
    return 0


def sys_chown(proc, ptr, uid, gid, *_):
    return sys_fchownat(proc, AT_FDCWD, ptr, uid, gid, 0)


def sys_lchown(proc, ptr, uid, gid, *_):
    return sys_fchownat(proc, AT_FDCWD, ptr, uid, gid, AT_SYMLINK_NOFOLLOW)


def sys_fchown(proc, fd, uid, gid, *_):
    os.fchown(proc.fds.host(s32(fd)), s32(uid), s32(gid))
    return 0


def sys_utimensat(proc, dirfd, ptr, times_ptr, flags, *_):
    times = bytearray(proc.mem.read(times_ptr, 32)) if times_ptr else bytearray()
    if not ptr:
        return host_syscall("utimensat", proc.fds.host(s32(dirfd)), 0, times, flags & 0xFFFFFFFF)
    res = _at(proc, dirfd, ptr, not flags & AT_SYMLINK_NOFOLLOW)
    hflags = (flags & ~AT_SYMLINK_NOFOLLOW & 0xFFFFFFFF) | _nofollow(res)
    return host_syscall("utimensat", AT_FDCWD, res.host, times, hflags)


SYSCALLS = {
    "open": sys_open, "openat": sys_openat, "creat": sys_creat,
    "stat": sys_stat, "lstat": sys_lstat, "fstat": sys_fstat, "newfstatat": sys_newfstatat,
    "statx": sys_statx, "statfs": sys_statfs, "fstatfs": sys_fstatfs,
    "access": sys_access, "faccessat": sys_faccessat, "faccessat2": sys_faccessat2,
    "readlink": sys_readlink, "readlinkat": sys_readlinkat, "symlink": sys_symlink,
    "symlinkat": sys_symlinkat, "link": sys_link, "linkat": sys_linkat,
    "mkdir": sys_mkdir, "mkdirat": sys_mkdirat, "mknod": sys_mknod, "mknodat": sys_mknodat,
    "unlink": sys_unlink, "unlinkat": sys_unlinkat, "rmdir": sys_rmdir,
    "rename": sys_rename, "renameat": sys_renameat, "renameat2": sys_renameat2,
    "getdents64": sys_getdents64, "getcwd": sys_getcwd, "chdir": sys_chdir, "fchdir": sys_fchdir,
    "truncate": sys_truncate, "chmod": sys_chmod, "fchmod": sys_fchmod, "fchmodat": sys_fchmodat,
    "chown": sys_chown, "lchown": sys_lchown, "fchown": sys_fchown, "fchownat": sys_fchownat,
    "utimensat": sys_utimensat,
}
