"""The region worker: one thread that compiles regions while the guest runs (background mode).

The worker compiles without the GIL for most of it (llvmlite releases it;
LLVM's own calls are serialised) and leaves the region to install. The thread
running the guest installs what is ready each time it looks up a block
(`install_ready`), which it does before every block it runs outside translated
code. A hot loop may stay in translated code for long, so the worker installs a
region itself under `gate`, which the guest's thread holds except while inside
translated code (`Executor` releases it around each native call): the block
cache is only changed by one thread at a time, and an install only writes
single words translated code may read (chain slots, the jump-cache entry of a
pc it already holds). Meanwhile the worker compiles the next region.

Queued regions are compiled most urgent first (`submit`'s `urgency`: for a region,
the entries its head's first-tier code has counted since it was queued), so the
loop running now gets its region before those of loops that have ended.
The thread ends when idle, or before its next job once the thread that made
the worker has ended (no hang at exit: a compile in progress finishes first,
as the thread is not a daemon); a region it could not install waits in
`ready` for the guest's thread.
"""
import collections
import functools
import threading


class RegionWorker:
    POLL = 0.05
    PATIENCE = 20

    def __init__(self):
        self.gate = threading.Lock()
        self.gate.acquire()
        self.owner = threading.current_thread()
        self.jobs: list[tuple] = []             # (urgency, compile_job, install), under lock
        self.ready: collections.deque = collections.deque()      # compiled, to install
        self.error: Exception | None = None     # a compile that raised, for the guest's thread to raise
        self.lock = threading.Lock()
        self.queued = threading.Condition(self.lock)
        self.thread: threading.Thread | None = None

    def submit(self, compile_job, install, urgency=lambda: 0) -> None:
        """Run compile_job() on the worker, then install(its result) on either thread (see
        above); of the jobs waiting, the one whose urgency() is highest runs first."""
        with self.lock:
            self.jobs.append((urgency, compile_job, install))
            self.queued.notify()
            if self.thread is None:
                self.thread = threading.Thread(target=self._serve, name="dbt-regions")
                self.thread.start()

    def _next(self) -> tuple | None:
        """The most urgent job, taken off the queue; None (the thread ends) after a poll without one."""
        with self.lock:
            if not self.jobs:
                self.queued.wait(self.POLL)
            if not self.jobs:
                self.thread = None
                return None
            job = max(self.jobs, key=lambda queued: queued[0]())
            self.jobs.remove(job)
            return job

    def pending(self) -> bool:
        return bool(self.ready) or self.error is not None

    def install_ready(self) -> None:
        """On the guest's thread (holding the gate): raise what a compile raised (as a compile on
        that thread would have), else install the regions compiled so far."""
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        self._install_all()

    def _install_all(self) -> None:
        while self.ready:
            self.ready.popleft()()

    def _serve(self) -> None:
        while self.owner.is_alive():
            job = self._next()
            if job is None:
                return
            _, compile_job, install = job
            try:
                result = compile_job()
            except Exception as error:          # noqa: BLE001 - handed to the guest's thread
                self.error = error
                continue
            self.ready.append(functools.partial(install, result))
            self._install()

    def _install(self) -> None:
        """Install the compiled regions once the guest runs translated code: at once if another job
        waits, else waiting for it up to PATIENCE polls. Otherwise the guest's thread will, at its
        next lookup (and an Emulator dropped meanwhile does not keep the thread)."""
        for _ in range(self.PATIENCE):
            if not self.ready or not self.owner.is_alive():
                return
            if self.gate.acquire(timeout=0 if self.jobs else self.POLL):
                try:
                    self._install_all()
                finally:
                    self.gate.release()
                return
            if self.jobs:
                return
