"""The signal syscalls: marshal the guest's structs and errnos; SignalState (signals.py) does the rest.

Each function takes (proc, *args) like those of syscalls.py and returns the
value for rax or a negative errno, checking in the kernel's order (so that
EINVAL and EFAULT come out as Linux gives them). A bad guest pointer raises
GuestFault, which the dispatcher turns into -EFAULT. kill, tkill and tgkill
reach only the process itself: this single-threaded process's tid is its pid.
Pending signals are delivered by SignalState.deliver_pending after the call.
Waiting for a signal (pause, sigsuspend, sigtimedwait) can only be ended by
one already pending or by an interval timer (itimers.py): nothing else can
send one, so a wait that nothing can end kills the run with one line, as a
futex wait with no waker does.
"""
import errno
import os
import struct

from dbt.runtime.linux.errors import ProcessKilled
from dbt.runtime.linux.itimers import wait
from dbt.runtime.linux.signals import (NSIG, SI_TKILL, SI_USER, SIG_BLOCK, SIG_SETMASK, SIG_UNBLOCK,
                                       SIGKILL, SIGSTOP, SigAction, siginfo)
from dbt.runtime.linux.sys_io import s32

SIGSET_SIZE = 8
SIGACTION_FORMAT = "<QQQQ"          # struct kernel_sigaction: handler, flags, restorer, mask
STACK_FORMAT = "<QI4xQ"             # stack_t: ss_sp, ss_flags, ss_size
TIMESPEC_FORMAT = "<qq"


def process_id(proc) -> int:
    """The pid the guest sees (getpid); the only thread's tid is the same number."""
    return proc.pid


def sys_rt_sigaction(proc, signo, act, oact, sigsetsize, *_):
    if sigsetsize != SIGSET_SIZE:
        return -errno.EINVAL
    new = None
    if act:
        new = SigAction(*struct.unpack(SIGACTION_FORMAT, proc.mem.read(act, 32)))
    signo = s32(signo)
    if not 1 <= signo <= NSIG or (new is not None and signo in (SIGKILL, SIGSTOP)):
        return -errno.EINVAL
    old = proc.signals.set_action(signo, new)
    if oact:
        proc.mem.write(oact, struct.pack(SIGACTION_FORMAT, old.handler, old.flags, old.restorer, old.mask))
    return 0


def sys_rt_sigprocmask(proc, how, nset, oset, sigsetsize, *_):
    if sigsetsize != SIGSET_SIZE:
        return -errno.EINVAL
    signals = proc.signals
    old = signals.blocked
    if nset:
        (mask,) = struct.unpack("<Q", proc.mem.read(nset, 8))
        how = s32(how)
        if how == SIG_BLOCK:
            signals.set_blocked(old | mask)
        elif how == SIG_UNBLOCK:
            signals.set_blocked(old & ~mask)
        elif how == SIG_SETMASK:
            signals.set_blocked(mask)
        else:
            return -errno.EINVAL
    if oset:
        proc.mem.write(oset, struct.pack("<Q", old))
    return 0


def sys_rt_sigpending(proc, uset, sigsetsize, *_):
    if sigsetsize > SIGSET_SIZE:
        return -errno.EINVAL
    mask = proc.signals.pending_mask() & proc.signals.blocked
    proc.mem.write(uset, struct.pack("<Q", mask)[:sigsetsize])
    return 0


def _deadlock(what: str) -> ProcessKilled:
    return ProcessKilled(SIGKILL, f"dbt: guest deadlocked: {what} with no signal pending that could end it")


def _suspend(proc, mask: int | None, what: str) -> int:
    if not proc.signals.suspend(mask, lambda: wait(proc, None) == "signal"):
        raise _deadlock(what)
    return -errno.EINTR


def sys_pause(proc, *_):
    return _suspend(proc, None, "pause")


def sys_rt_sigsuspend(proc, uset, sigsetsize, *_):
    if sigsetsize != SIGSET_SIZE:
        return -errno.EINVAL
    (mask,) = struct.unpack("<Q", proc.mem.read(uset, 8))
    return _suspend(proc, mask, "sigsuspend")


def sys_rt_sigtimedwait(proc, uset, uinfo, utimeout, sigsetsize, *_):
    if sigsetsize != SIGSET_SIZE:
        return -errno.EINVAL
    (mask,) = struct.unpack("<Q", proc.mem.read(uset, 8))
    timeout = None
    if utimeout:
        sec, nsec = struct.unpack(TIMESPEC_FORMAT, proc.mem.read(utimeout, 16))
        if sec < 0 or not 0 <= nsec < 1_000_000_000:
            return -errno.EINVAL
        timeout = sec + nsec / 1e9
    signals = proc.signals
    entry = signals.take(mask)
    if entry is None:
        end = wait(proc, timeout, ready=lambda: bool(signals.pending_mask() & mask) or signals.deliverable())
        if end == "never":
            raise _deadlock("sigtimedwait")
        entry = signals.take(mask)
        if entry is None:
            return -errno.EAGAIN if end == "timeout" else -errno.EINTR
    if uinfo:
        proc.mem.write(uinfo, entry.info)
    return entry.signo


def sys_rt_sigreturn(proc, *_):
    return proc.signals.sigreturn(proc)


def sys_sigaltstack(proc, uss, uoss, *_):
    signals = proc.signals
    new = struct.unpack(STACK_FORMAT, proc.mem.read(uss, 24)) if uss else None
    sp = proc.emu.cpu.rsp
    old = (signals.ss_sp, signals.altstack_flags(sp) | (signals.ss_flags & 0x80000000), signals.ss_size)
    if new is not None:
        ss_sp, ss_flags, ss_size = new
        err = signals.set_altstack(ss_sp, ss_size, ss_flags, sp)
        if err:
            return err
    if uoss:
        proc.mem.write(uoss, struct.pack(STACK_FORMAT, *old))
    return 0


def _send_self(proc, signo: int, code: int) -> int:
    """kill queues on the process (SI_USER), tkill and tgkill on the thread (SI_TKILL)."""
    if not 0 <= signo <= NSIG:
        return -errno.EINVAL
    if signo:
        pid = process_id(proc)
        proc.signals.send(signo, siginfo(signo, code, pid, os.getuid(), fmt="iI"), shared=code == SI_USER)
    return 0


def sys_kill(proc, pid, signo, *_):
    pid, signo = s32(pid), s32(signo)
    if pid not in (0, process_id(proc)):
        return -errno.ESRCH        # no other process is reachable from the guest
    return _send_self(proc, signo, SI_USER)


def sys_tkill(proc, tid, signo, *_):
    tid = s32(tid)
    if tid <= 0:
        return -errno.EINVAL
    if tid != process_id(proc):
        return -errno.ESRCH
    return _send_self(proc, s32(signo), SI_TKILL)


def sys_tgkill(proc, tgid, tid, signo, *_):
    tgid, tid = s32(tgid), s32(tid)
    if tgid <= 0 or tid <= 0:
        return -errno.EINVAL
    if tgid != process_id(proc) or tid != tgid:
        return -errno.ESRCH
    return _send_self(proc, s32(signo), SI_TKILL)


SYSCALLS = {
    13: sys_rt_sigaction,
    14: sys_rt_sigprocmask,
    15: sys_rt_sigreturn,
    34: sys_pause,
    62: sys_kill,
    127: sys_rt_sigpending,
    128: sys_rt_sigtimedwait,
    130: sys_rt_sigsuspend,
    131: sys_sigaltstack,
    200: sys_tkill,
    234: sys_tgkill,
}
