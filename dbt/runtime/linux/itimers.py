"""The guest's interval timers (setitimer, alarm) and waits that a timer signal can end.

ITIMER_REAL runs on the host's monotonic clock; ITIMER_VIRTUAL and ITIMER_PROF
on the CPU time of the thread that runs the guest (translation included: the
guest has no CPU time of its own). Each armed timer has a HostAlarm that sets
cpu.exit_request when it is due, so translated code stops at its next block
and the process calls `expire`, which queues the signals (SI_KERNEL, on the
process, as the kernel's it_real_fn) and re-arms periodic timers. A timer
signal is the only signal that can arrive while the guest waits, so `wait`
sleeps until the wait ends or the REAL timer makes a signal deliverable.
"""
import functools
import select
import threading
import time
from dataclasses import dataclass

from dbt.runtime.host_events import HostAlarm
from dbt.runtime.linux.signals import SI_KERNEL, siginfo

ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF = 0, 1, 2
TIMER_SIGNAL = {ITIMER_REAL: 14, ITIMER_VIRTUAL: 26, ITIMER_PROF: 27}   # SIGALRM SIGVTALRM SIGPROF
NS = 1_000_000_000


@dataclass
class IntervalTimer:
    clock: object                   # () -> ns
    alarm: HostAlarm
    deadline: int | None = None     # on `clock`; None: disarmed
    interval: int = 0               # ns; 0: one-shot


class IntervalTimers:
    def __init__(self, cpu):
        self.cpu = cpu
        self.timers: dict[int, IntervalTimer] = {}     # made on first use (each has a thread)

    def _timer(self, which: int) -> IntervalTimer:
        timer = self.timers.get(which)
        if timer is None:
            if which == ITIMER_REAL:
                clock = time.monotonic_ns
            else:
                clock = functools.partial(time.clock_gettime_ns, time.pthread_getcpuclockid(threading.get_ident()))
            timer = self.timers[which] = IntervalTimer(clock, HostAlarm(self.cpu, 0, clock=clock))
        return timer

    def get(self, which: int) -> tuple[int, int]:
        """(ns left, interval ns); a due timer not yet expired shows 1 us left, as Linux's."""
        timer = self.timers.get(which)
        if timer is None or timer.deadline is None:
            return 0, 0
        return max(timer.deadline - timer.clock(), 1000), timer.interval

    def set(self, which: int, value: int, interval: int) -> tuple[int, int]:
        """Arm (value ns from now, then every interval ns) or disarm (value 0); returns the old setting."""
        old = self.get(which)
        if value or which in self.timers:
            timer = self._timer(which)
            timer.deadline = timer.clock() + value if value else None
            timer.interval = interval if value else 0
            timer.alarm.set(timer.deadline)
        return old

    def expire(self, signals) -> None:
        """Queue the signal of every due timer; a periodic one moves on by whole intervals."""
        for which, timer in self.timers.items():
            if timer.deadline is None:
                continue
            now = timer.clock()
            if now < timer.deadline:
                continue
            signo = TIMER_SIGNAL[which]
            signals.send(signo, siginfo(signo, SI_KERNEL), shared=True)
            if timer.interval:
                timer.deadline += ((now - timer.deadline) // timer.interval + 1) * timer.interval
            else:
                timer.deadline = None
            timer.alarm.set(timer.deadline)

    def real_left(self) -> float | None:
        """Seconds until ITIMER_REAL is due (None: disarmed)."""
        timer = self.timers.get(ITIMER_REAL)
        if timer is None or timer.deadline is None:
            return None
        return max(timer.deadline - timer.clock(), 0) / NS

    def close(self) -> None:
        for timer in self.timers.values():
            timer.alarm.stop()
        self.timers.clear()


def wait(proc, seconds: float | None, block=None, ready=None) -> str:
    """Block for `seconds` (None: no limit) or until block(step) -- which waits up to step
    seconds (None: no limit) for an event -- returns True: 'ready', 'timeout', 'signal' (a
    timer made a signal deliverable, or `ready()` is true) or 'never' (nothing can end an
    unlimited wait)."""
    ready = ready or proc.signals.deliverable
    end = None if seconds is None else time.monotonic() + seconds
    while True:
        proc.timers.expire(proc.signals)
        if ready():
            return "signal"
        left = None if end is None else end - time.monotonic()
        if left is not None and left <= 0:
            return "timeout"
        steps = [s for s in (left, proc.timers.real_left()) if s is not None]
        step = min(steps) if steps else None
        if block is not None:
            if block(step):
                return "ready"
        elif step is None:
            return "never"
        else:
            time.sleep(step)


def readable(host_fd: int):
    """A `block` for wait: host_fd has data (or an end of file) to read."""
    return lambda step: bool(select.select([host_fd], [], [], step)[0])
