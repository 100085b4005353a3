"""Time syscalls: clocks, sleeps, interval timers, process times. The guest's clocks are the host's.

A sleep really sleeps (the guest's own timing is kept) until it ends or a
timer signal that runs a handler interrupts it (-EINTR and the time left, as
Linux's nanosleep); a host SIGINT during it ends the run as anywhere else.
"""
import errno
import os
import resource
import struct
import time

from dbt.runtime.linux.hostsys import host_syscall
from dbt.runtime.linux.itimers import ITIMER_PROF, ITIMER_REAL, wait
from dbt.runtime.linux.sys_io import s32

TIMESPEC = struct.Struct("<qq")
TIMEVAL = struct.Struct("<qq")
TIMER_ABSTIME = 1
SLEEP_CLOCKS = {time.CLOCK_REALTIME, time.CLOCK_MONOTONIC, time.CLOCK_BOOTTIME, 11}   # 11: CLOCK_TAI
CLK_TCK = 100


def _err(code: int) -> OSError:
    return OSError(code, os.strerror(code))


def _read_timespec(proc, ptr) -> float:
    sec, nsec = TIMESPEC.unpack(proc.mem.read(ptr, TIMESPEC.size))
    if sec < 0 or not 0 <= nsec < 1_000_000_000:
        raise _err(errno.EINVAL)
    return sec + nsec / 1e9


def sys_clock_gettime(proc, clock, tp, *_):
    now = time.clock_gettime_ns(s32(clock))
    proc.mem.write(tp, TIMESPEC.pack(*divmod(now, 1_000_000_000)))
    return 0


def sys_clock_getres(proc, clock, res, *_):
    out = bytearray(TIMESPEC.size)
    host_syscall("clock_getres", s32(clock), out)
    if res:
        proc.mem.write(res, bytes(out))
    return 0


def sys_gettimeofday(proc, tv, tz, *_):
    if tv:
        sec, ns = divmod(time.time_ns(), 1_000_000_000)
        proc.mem.write(tv, TIMEVAL.pack(sec, ns // 1000))
    if tz:
        proc.mem.write(tz, bytes(8))
    return 0


def sys_time(proc, tloc, *_):
    now = time.time_ns() // 1_000_000_000
    if tloc:
        proc.mem.store(tloc, 8, now)
    return now


def _sleep(proc, seconds: float, rem) -> int:
    """Sleep; interrupted by a signal: -EINTR, and the time left written to rem (if given)."""
    end = time.monotonic() + seconds
    if wait(proc, seconds) != "signal":
        return 0
    if rem:
        left = max(end - time.monotonic(), 0)
        proc.mem.write(rem, TIMESPEC.pack(int(left), int(left % 1 * 1e9)))
    return -errno.EINTR


def sys_nanosleep(proc, req, rem, *_):
    return _sleep(proc, _read_timespec(proc, req), rem)


def sys_clock_nanosleep(proc, clock, flags, req, rem, *_):
    clock = s32(clock)
    if clock not in SLEEP_CLOCKS:
        return -errno.EINVAL
    delay = _read_timespec(proc, req)
    if flags & TIMER_ABSTIME:
        delay -= time.clock_gettime(clock)
        rem = 0
    return _sleep(proc, max(delay, 0), rem)


# -- interval timers ---------------------------------------------------------------------
def _ns_of_timeval(sec: int, usec: int) -> int:
    if sec < 0 or not 0 <= usec < 1_000_000:
        raise _err(errno.EINVAL)
    return sec * 1_000_000_000 + usec * 1000


def _timeval_of_ns(ns: int) -> bytes:
    return TIMEVAL.pack(ns // 1_000_000_000, ns % 1_000_000_000 // 1000)


def sys_getitimer(proc, which, value, *_):
    which = s32(which)
    if not ITIMER_REAL <= which <= ITIMER_PROF:
        raise _err(errno.EINVAL)
    left, interval = proc.timers.get(which)
    proc.mem.write(value, _timeval_of_ns(interval) + _timeval_of_ns(left))
    return 0


def sys_setitimer(proc, which, new, old, *_):
    interval = value = 0                      # NULL: disarm (a misfeature Linux still has)
    if new:
        fields = struct.unpack("<4q", proc.mem.read(new, 2 * TIMEVAL.size))
        interval, value = _ns_of_timeval(*fields[:2]), _ns_of_timeval(*fields[2:])
    which = s32(which)
    if not ITIMER_REAL <= which <= ITIMER_PROF:
        raise _err(errno.EINVAL)
    left, was = proc.timers.set(which, value, interval)
    if old:
        proc.mem.write(old, _timeval_of_ns(was) + _timeval_of_ns(left))
    return 0


def sys_alarm(proc, seconds, *_):
    left, _ = proc.timers.set(ITIMER_REAL, (seconds & 0xFFFFFFFF) * 1_000_000_000, 0)
    sec, usec = divmod(left // 1000, 1_000_000)
    return sec + (usec >= 500_000 or (not sec and usec > 0))


def sys_times(proc, buf, *_):
    t = os.times()
    if buf:
        ticks = [int(v * CLK_TCK) for v in (t.user, t.system, t.children_user, t.children_system)]
        proc.mem.write(buf, struct.pack("<4q", *ticks))
    return int(t.elapsed * CLK_TCK)


def _timeval(seconds: float) -> tuple[int, int]:
    usec = int(round(seconds * 1e6))
    return usec // 1_000_000, usec % 1_000_000


def sys_getrusage(proc, who, buf, *_):
    who = s32(who)
    if who not in (0, -1, 1):
        raise _err(errno.EINVAL)
    r = resource.getrusage(resource.RUSAGE_CHILDREN if who == -1 else resource.RUSAGE_SELF)
    fields = [*_timeval(r.ru_utime), *_timeval(r.ru_stime), r.ru_maxrss, r.ru_ixrss, r.ru_idrss, r.ru_isrss,
              r.ru_minflt, r.ru_majflt, r.ru_nswap, r.ru_inblock, r.ru_oublock, r.ru_msgsnd,
              r.ru_msgrcv, r.ru_nsignals, r.ru_nvcsw, r.ru_nivcsw]
    proc.mem.write(buf, struct.pack("<18q", *fields))
    return 0


SYSCALLS = {
    "clock_gettime": sys_clock_gettime, "clock_getres": sys_clock_getres,
    "gettimeofday": sys_gettimeofday, "time": sys_time, "nanosleep": sys_nanosleep,
    "clock_nanosleep": sys_clock_nanosleep, "getitimer": sys_getitimer, "setitimer": sys_setitimer,
    "alarm": sys_alarm, "times": sys_times, "getrusage": sys_getrusage,
}
