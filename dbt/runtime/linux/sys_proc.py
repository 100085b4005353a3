"""Process syscalls: exit, identity, limits, uname, arch_prctl, futex, randomness, CPU info.

One guest thread: the guest's pid and tid are dbt's own host pid. Resource
limits are the guest's own copy (started from the host's), so a guest that
lowers them never limits dbt; RLIMIT_NOFILE bounds the guest's fd table.
A futex wait that nothing could ever wake (no other thread, no timeout) ends
the run with one line instead of hanging forever.
"""
import errno
import os
import resource
import signal
import struct
import time

from dbt.runtime.linux.errors import ProcessExit, ProcessKilled
from dbt.runtime.linux.hostsys import host_syscall
from dbt.runtime.linux.sys_io import s32
from dbt.runtime.linux.uaccess import out_view, read_cstring, writable, write_u64

RLIM_INFINITY = (1 << 64) - 1
RLIM_NLIMITS = 16
RLIMIT_NOFILE, RLIMIT_AS = 7, 9
NR_OPEN = 1 << 20
RLIMIT = struct.Struct("<QQ")
TASK_SIZE_MAX = 0x7FFFFFFFF000
ARCH_SET_GS, ARCH_SET_FS, ARCH_GET_FS, ARCH_GET_GS = 0x1001, 0x1002, 0x1003, 0x1004
UTS_FIELD = 65
SYSINFO_SIZE = 112
AFFINITY_CAP = 8192
TIMESPEC = struct.Struct("<qq")


def _err(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def host_rlimits() -> dict[int, tuple[int, int]]:
    """The host's limits as the guest's starting ones (u64, RLIM_INFINITY for none)."""
    limits = {}
    for res in range(RLIM_NLIMITS):
        try:
            soft, hard = resource.getrlimit(res)
        except (ValueError, OSError):
            soft = hard = -1
        limits[res] = (soft & RLIM_INFINITY, hard & RLIM_INFINITY)
    return limits


# -- exit and identity -------------------------------------------------------------------
def sys_exit(proc, status, *_):
    raise ProcessExit(status & 0xFF)


def sys_getpid(proc, *_):
    return os.getpid()


def sys_getppid(proc, *_):
    return os.getppid()


def sys_getuid(proc, *_):
    return os.getuid()


def sys_geteuid(proc, *_):
    return os.geteuid()


def sys_getgid(proc, *_):
    return os.getgid()


def sys_getegid(proc, *_):
    return os.getegid()


def sys_getpgrp(proc, *_):
    return os.getpgrp()


def sys_getpgid(proc, pid, *_):
    return os.getpgid(s32(pid))


def sys_getsid(proc, pid, *_):
    return os.getsid(s32(pid))


def sys_getgroups(proc, size, ptr, *_):
    groups = os.getgroups()
    size = s32(size)
    if size < 0:
        raise _err(errno.EINVAL)
    if size == 0:
        return len(groups)
    if size < len(groups):
        raise _err(errno.EINVAL)
    proc.mem.write(ptr, struct.pack(f"<{len(groups)}I", *groups))
    return len(groups)


def sys_set_tid_address(proc, ptr, *_):
    proc.clear_child_tid = ptr
    return os.getpid()


def sys_set_robust_list(proc, head, length, *_):
    if length != 24:
        raise _err(errno.EINVAL)
    proc.robust_list = head
    return 0


def sys_rseq(proc, *_):
    return -errno.ENOSYS


def sys_umask(proc, mask, *_):
    return os.umask(mask & 0o777)


# -- limits ----------------------------------------------------------------------------------
def sys_prlimit64(proc, pid, res, new_ptr, old_ptr, *_):
    pid, res = s32(pid), s32(res)
    if res < 0 or res >= RLIM_NLIMITS:
        raise _err(errno.EINVAL)
    new = RLIMIT.unpack(proc.mem.read(new_ptr, RLIMIT.size)) if new_ptr else None
    if pid not in (0, os.getpid()):
        raise _err(errno.ESRCH if new is None else errno.EPERM)
    old = proc.rlimits[res]
    if new is not None:
        soft, hard = new
        if soft > hard:
            raise _err(errno.EINVAL)
        if hard > old[1] and os.geteuid() != 0 or res == RLIMIT_NOFILE and hard > NR_OPEN:
            raise _err(errno.EPERM)
    if old_ptr:
        proc.mem.write(old_ptr, RLIMIT.pack(*old))
    if new is not None:
        proc.rlimits[res] = new
        if res == RLIMIT_NOFILE:
            proc.fds.limit = min(new[0], NR_OPEN)
    return 0


def sys_getrlimit(proc, res, ptr, *_):
    return sys_prlimit64(proc, 0, res, 0, ptr)


def sys_setrlimit(proc, res, ptr, *_):
    return sys_prlimit64(proc, 0, res, ptr, 0)


# -- machine -----------------------------------------------------------------------------------
def _uts(text: str) -> bytes:
    return text.encode()[:UTS_FIELD - 1].ljust(UTS_FIELD, b"\0")


def sys_uname(proc, buf, *_):
    u = os.uname()
    try:
        with open("/proc/sys/kernel/domainname") as f:
            domain = f.read().strip()
    except OSError:
        domain = "(none)"
    proc.mem.write(buf, b"".join(_uts(s) for s in ("Linux", u.nodename, u.release, u.version, "x86_64", domain)))
    return 0


def sys_arch_prctl(proc, code, addr, *_):
    cpu = proc.cpu
    if code in (ARCH_SET_FS, ARCH_SET_GS):
        if addr >= TASK_SIZE_MAX:
            raise _err(errno.EPERM)
        setattr(cpu, "fs_base" if code == ARCH_SET_FS else "gs_base", addr)
        return 0
    if code in (ARCH_GET_FS, ARCH_GET_GS):
        write_u64(proc.mem, addr, cpu.fs_base if code == ARCH_GET_FS else cpu.gs_base)
        return 0
    raise _err(errno.EINVAL)


def sys_sysinfo(proc, buf, *_):
    out = bytearray(SYSINFO_SIZE)
    host_syscall("sysinfo", out)
    proc.mem.write(buf, bytes(out))
    return 0


def sys_sched_getaffinity(proc, pid, length, mask, *_):
    length = min(length, AFFINITY_CAP)
    out = bytearray(length)
    size = host_syscall("sched_getaffinity", s32(pid), length, out)
    proc.mem.write(mask, bytes(out[:size]))
    return size


def sys_sched_yield(proc, *_):
    os.sched_yield()
    return 0


def sys_getrandom(proc, buf, length, flags, *_):
    if flags & ~7 or flags & 6 == 6:
        raise _err(errno.EINVAL)
    length = min(length, 0x1FFFFFF)
    n = writable(proc.mem, buf, length)
    if n == 0:
        return -errno.EFAULT if length else 0
    data = os.getrandom(n, flags & 3)
    out_view(proc.mem, buf, len(data))[:] = data
    return len(data)


def sys_prctl(proc, option, arg2, *_):
    if option == 15:             # PR_SET_NAME
        proc.comm = read_cstring(proc.mem, arg2, 1 << 20)[:15]
        return 0
    if option == 16:             # PR_GET_NAME
        proc.mem.write(arg2, proc.comm.ljust(16, b"\0"))
        return 0
    raise _err(errno.EINVAL)


# -- futex ------------------------------------------------------------------------------------
FUTEX_WAIT, FUTEX_WAKE, FUTEX_REQUEUE, FUTEX_CMP_REQUEUE, FUTEX_WAKE_OP = 0, 1, 3, 4, 5
FUTEX_LOCK_PI, FUTEX_UNLOCK_PI, FUTEX_TRYLOCK_PI, FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 6, 7, 8, 9, 10
FUTEX_CLOCK_REALTIME = 256
FUTEX_TID_MASK = 0x3FFFFFFF


def _wake_op(mem, uaddr2, val3):
    op, cmp_, oparg = (val3 >> 28) & 15, (val3 >> 24) & 15, (val3 >> 12) & 0xFFF
    if oparg & 0x800:
        oparg -= 0x1000
    if op & 8:
        op &= 7
        if not 0 <= oparg <= 31:
            raise _err(errno.EINVAL)
        oparg = 1 << oparg
    old = mem.load(uaddr2, 4)
    ops = {0: lambda v: oparg, 1: lambda v: v + oparg, 2: lambda v: v | oparg,
           3: lambda v: v & ~oparg, 4: lambda v: v ^ oparg}
    if op not in ops or cmp_ > 5:
        raise _err(errno.ENOSYS)
    mem.store(uaddr2, 4, ops[op](old))
    return 0


def _futex_sleep(proc, cmd, op, timeout_ptr, uaddr):
    if not timeout_ptr:
        raise ProcessKilled(signal.SIGKILL, f"dbt: guest deadlocked: futex wait on {uaddr:#x} "
                                            "with no other thread to wake it")
    sec, nsec = TIMESPEC.unpack(proc.mem.read(timeout_ptr, TIMESPEC.size))
    if sec < 0 or not 0 <= nsec < 1_000_000_000:
        raise _err(errno.EINVAL)
    delay = sec + nsec / 1e9
    if cmd == FUTEX_WAIT_BITSET:             # an absolute time
        clock = time.CLOCK_REALTIME if op & FUTEX_CLOCK_REALTIME else time.CLOCK_MONOTONIC
        delay -= time.clock_gettime(clock)
    if delay > 0:
        time.sleep(delay)
    return -errno.ETIMEDOUT


def sys_futex(proc, uaddr, op, val, timeout_ptr, uaddr2, val3):
    cmd, val, val3 = op & 127, val & 0xFFFFFFFF, val3 & 0xFFFFFFFF
    if op & FUTEX_CLOCK_REALTIME and cmd not in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        return -errno.ENOSYS
    mem = proc.mem
    if cmd in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        if cmd == FUTEX_WAIT_BITSET and not val3:
            raise _err(errno.EINVAL)
        if uaddr & 3:
            raise _err(errno.EINVAL)
        if mem.load(uaddr, 4) != val:
            return -errno.EAGAIN
        return _futex_sleep(proc, cmd, op, timeout_ptr, uaddr)
    if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET, FUTEX_REQUEUE):
        if cmd == FUTEX_WAKE_BITSET and not val3:
            raise _err(errno.EINVAL)
        return 0
    if cmd == FUTEX_CMP_REQUEUE:
        return 0 if mem.load(uaddr, 4) == val3 else -errno.EAGAIN
    if cmd == FUTEX_WAKE_OP:
        return _wake_op(mem, uaddr2, val3)
    tid = os.getpid()
    if cmd in (FUTEX_LOCK_PI, FUTEX_TRYLOCK_PI):
        word = mem.load(uaddr, 4)
        if word & FUTEX_TID_MASK == tid:
            return -errno.EDEADLK
        if word & FUTEX_TID_MASK == 0:
            mem.store(uaddr, 4, (word & ~FUTEX_TID_MASK) | tid)
            return 0
        if cmd == FUTEX_TRYLOCK_PI:
            return -errno.EAGAIN
        return _futex_sleep(proc, cmd, op, timeout_ptr, uaddr)
    if cmd == FUTEX_UNLOCK_PI:
        word = mem.load(uaddr, 4)
        if word & FUTEX_TID_MASK != tid:
            return -errno.EPERM
        mem.store(uaddr, 4, 0)
        return 0
    return -errno.ENOSYS


SYSCALLS = {
    "exit": sys_exit, "exit_group": sys_exit, "getpid": sys_getpid, "gettid": sys_getpid,
    "getppid": sys_getppid, "getuid": sys_getuid, "geteuid": sys_geteuid, "getgid": sys_getgid,
    "getegid": sys_getegid, "getpgrp": sys_getpgrp, "getpgid": sys_getpgid, "getsid": sys_getsid,
    "getgroups": sys_getgroups, "set_tid_address": sys_set_tid_address,
    "set_robust_list": sys_set_robust_list, "rseq": sys_rseq, "umask": sys_umask,
    "prlimit64": sys_prlimit64, "getrlimit": sys_getrlimit, "setrlimit": sys_setrlimit,
    "uname": sys_uname, "arch_prctl": sys_arch_prctl, "sysinfo": sys_sysinfo,
    "sched_getaffinity": sys_sched_getaffinity, "sched_yield": sys_sched_yield,
    "getrandom": sys_getrandom, "prctl": sys_prctl, "futex": sys_futex,
}
