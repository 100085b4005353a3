"""Host events that must stop translated code: deadlines (--realtime, guest interval
timers), host signals (Ctrl-C) and --timeout.

Native code returns to Python only at an exit, and every block checks
cpu.exit_request at entry. While it runs (the GIL released inside the ctypes
call), a Python signal handler cannot run and no Python code on the main
thread sees the host clock. So a helper thread sets cpu.exit_request: the
HostAlarm at a virtual-time deadline of --realtime (host monotonic ns since
t0), the SignalWake when the signal wakeup fd reports a signal, after which
the main thread's own handler runs (Ctrl-C raises KeyboardInterrupt as
usual). The threads touch nothing but cpu.request_exit().
WallClockLimit (--timeout) rings a HostAlarm that sends the main thread a
signal: its handler raises TimeLimitExpired there, wherever the main thread
is (translated code returns first through SignalWake; a blocking host call
such as read() or sleep() is interrupted by the signal).
"""
import os
import signal
import threading
import time


TIMEOUT_SIGNAL = signal.SIGRTMIN      # dbt's own: the guest's signals are emulated, never the host's


class TimeLimitExpired(Exception):
    """--timeout: the wall-clock budget is spent (raised in the main thread)."""


class HostAlarm:
    def __init__(self, cpu, t0_ns: int, ring=None, clock=time.monotonic_ns):
        """ring: called at the deadline on the alarm thread (default: cpu.request_exit);
        clock: ns, and never faster than the monotonic clock (a CPU-time clock qualifies)."""
        self.cpu, self.t0, self.clock = cpu, t0_ns, clock
        self.ring = ring or cpu.request_exit
        self.deadline: int | None = None
        self.stopped = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="dbt-realtime-alarm", daemon=True)
        self.thread.start()

    def set(self, deadline_ns: int | None) -> None:
        """Ring when the clock reaches t0 + deadline_ns, or never; replaces the previous deadline."""
        with self.cond:
            if deadline_ns != self.deadline:
                self.deadline = deadline_ns
                self.cond.notify()

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify()
        self.thread.join(timeout=1.0)

    def _run(self) -> None:
        with self.cond:
            while not self.stopped:
                if self.deadline is None:
                    self.cond.wait()
                    continue
                delay = self.t0 + self.deadline - self.clock()
                if delay > 0:
                    self.cond.wait(delay / 1e9)
                    continue
                self.deadline = None
                self.ring()


class WallClockLimit:
    """While active, TimeLimitExpired is raised in the main thread `seconds` after entry
    (None: never). Only the main thread can use it (signal handlers live there)."""

    def __init__(self, cpu, seconds: float | None):
        self.cpu, self.seconds = cpu, seconds
        self.alarm = None
        self.old_handler = None

    def __enter__(self):
        if self.seconds is None:
            return self
        self.old_handler = signal.signal(TIMEOUT_SIGNAL, self._expired)
        main = threading.main_thread().ident
        self.alarm = HostAlarm(self.cpu, time.monotonic_ns(), ring=lambda: signal.pthread_kill(main, TIMEOUT_SIGNAL))
        self.alarm.set(int(self.seconds * 1e9))
        return self

    def __exit__(self, *exc) -> None:
        if self.alarm is None:
            return
        self.alarm.stop()                  # no signal is sent after this
        self.alarm = None
        signal.signal(TIMEOUT_SIGNAL, self.old_handler)

    def _expired(self, signum, frame):
        raise TimeLimitExpired(f"time limit of {self.seconds:g} s spent")


class SignalWake:
    """While active, any signal Python handles makes translated code return at its next block.
    Outside the main thread (where signals cannot be watched) it does nothing."""

    def __init__(self, cpu):
        self.cpu = cpu
        self.read_fd = self.write_fd = None
        self.old_fd = None
        self.thread = None

    def __enter__(self):
        r, w = os.pipe()
        os.set_blocking(w, False)
        try:
            self.old_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
        except ValueError:                 # not the main thread
            os.close(r)
            os.close(w)
            return self
        self.read_fd, self.write_fd = r, w
        self.thread = threading.Thread(target=self._run, name="dbt-signal-wake", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.thread is None:
            return
        signal.set_wakeup_fd(self.old_fd)
        os.close(self.write_fd)            # the reader sees end of file and returns
        self.thread.join(timeout=1.0)
        os.close(self.read_fd)
        self.thread = None

    def _run(self) -> None:
        while True:
            try:
                data = os.read(self.read_fd, 64)
            except OSError:
                return
            if not data:
                return
            self.cpu.request_exit()
