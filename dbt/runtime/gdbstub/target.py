"""What gdb debugs: memory, breakpoints, watchpoints and run control on one Emulator.

Breakpoints are the translator's stop addresses: inserting one drops the
blocks that contain it, so code is retranslated to end before it and a stop
block there exits STOP (both engines). A single step runs one instruction in
a one-instruction block, interpreted, recording its memory accesses.
Write watchpoints mark their pages CODE, so every store to them exits
(CODE_WRITE) in both engines; that instruction is stepped and its stores are
checked against the watched ranges exactly. Read and access watchpoints have
no such exit: while one is set, the guest runs by single steps.
In user mode, a guest fault stops for gdb before its signal is delivered;
resuming with the signal delivers it, resuming without drops it.
"""
from dataclasses import dataclass

from dbt.backend.interp import Interpreter
from dbt.ir.exits import ExitReason, Vector
from dbt.runtime.executor import Stop
from dbt.runtime.memory import PAGE_SHIFT, PAGE_SIZE, R, W, X, GuestFault

WRITE, READ, ACCESS = 2, 3, 4              # Z2, Z3, Z4
DEBUG_REASONS = ("until", "step", "debug_fault", "watch", "debug_interrupt")   # 'until': a breakpoint


@dataclass(frozen=True)
class Watch:
    addr: int
    length: int
    kind: int

    def hit_by(self, addr: int, size: int, is_write: bool) -> bool:
        if addr >= self.addr + self.length or addr + size <= self.addr:
            return False
        return self.kind == ACCESS or (self.kind == WRITE) == is_write


class AccessRecorder(Interpreter):
    """The interpreter, noting each load and store (addr, size, is_write) of what it runs."""

    def __init__(self, cpu, mem):
        super().__init__(cpu, mem)
        self.accesses: list[tuple[int, int, bool]] = []

    def _load(self, addr: int, size: int) -> int:
        value = super()._load(addr, size)
        self.accesses.append((addr, size, False))
        return value

    def _store(self, addr: int, size: int, value: int) -> None:
        super()._store(addr, size, value)
        self.accesses.append((addr, size, True))


class DebugServices:
    """The machine's Services, except that faults (user mode) and gdb's Ctrl-C stop for gdb."""

    def __init__(self, inner, target):
        self.inner, self.target = inner, target

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def fault(self, executor, fault: GuestFault) -> Stop | None:
        if self.target.user_mode:
            return Stop("debug_fault", fault=fault)
        return self.inner.fault(executor, fault)

    def interrupt(self, executor) -> Stop | None:
        if self.target.interrupted():
            return Stop("debug_interrupt")
        return self.inner.interrupt(executor)


class DebugTarget:
    def __init__(self, emu, user_mode: bool, interrupted=lambda: False):
        """interrupted(): has gdb asked to stop the running guest (Ctrl-C)?"""
        self.emu, self.cpu, self.mem = emu, emu.cpu, emu.mem
        self.executor = emu.executor
        self.user_mode, self.interrupted = user_mode, interrupted
        self.breakpoints: set[int] = set()
        self.watches: list[Watch] = []
        self.watch_hit: Watch | None = None
        self.pending_fault: GuestFault | None = None
        self.recorder = AccessRecorder(self.cpu, self.mem)
        self.services = DebugServices(self.executor.services, self)
        self.executor.services = self.services

    # -- memory -------------------------------------------------------------------
    def _accessible(self, addr: int, size: int) -> bool:
        if addr < 0 or addr + size > self.mem.size:
            return False
        return all(self.mem.perms[page] & (R | W | X)
                   for page in range(addr >> PAGE_SHIFT, ((addr + max(size, 1) - 1) >> PAGE_SHIFT) + 1))

    def read_memory(self, addr: int, size: int) -> bytes | None:
        """The bytes, or None when some are not mapped (gdb reads past ends of maps)."""
        return self.mem.peek(addr, size) if self._accessible(addr, size) else None

    def write_memory(self, addr: int, data: bytes) -> bool:
        """gdb writes ignore page permissions (e.g. patching code); translated code is dropped."""
        if not self._accessible(addr, len(data)):
            return False
        self.mem.poke(addr, data)
        return True

    # -- breakpoints and watchpoints ------------------------------------------------
    def insert_breakpoint(self, addr: int) -> None:
        self.breakpoints.add(addr)
        self.emu.set_stop(addr)

    def remove_breakpoint(self, addr: int) -> None:
        self.breakpoints.discard(addr)
        self.emu.clear_stop(addr)

    def insert_watch(self, addr: int, length: int, kind: int) -> None:
        self.watches.append(Watch(addr, length, kind))
        self._arm()

    def remove_watch(self, addr: int, length: int, kind: int) -> None:
        self._disarm()
        if Watch(addr, length, kind) in self.watches:
            self.watches.remove(Watch(addr, length, kind))
        self._arm()

    def _watched_pages(self) -> set[int]:
        return {page for w in self.watches if w.kind != READ
                for page in range(w.addr >> PAGE_SHIFT, ((w.addr + w.length - 1) >> PAGE_SHIFT) + 1)}

    def _arm(self) -> None:
        """Mark the mapped pages under write watches CODE: stores to them exit."""
        for page in self._watched_pages():
            if page < self.mem.npages and self.mem.perms[page] & (R | W | X):
                self.mem.mark_code(page << PAGE_SHIFT, PAGE_SIZE)

    def _disarm(self) -> None:
        for page in self._watched_pages():
            self.mem.invalidate_code(page, page)

    def code_write(self, executor) -> Stop | None:
        """A store exited on a CODE page (executor hook): a watched page steps here."""
        first, last = self.cpu.exit_addr >> PAGE_SHIFT, (self.cpu.exit_addr + 15) >> PAGE_SHIFT
        if self._watched_pages().isdisjoint(range(first, last + 1)):
            return executor.step_code_write()
        return self.step_one()

    # -- run control ------------------------------------------------------------------
    def step_one(self) -> Stop | None:
        """Run exactly one instruction (or take the interrupt due before it). A Stop when
        it ends the run or stops for gdb (fault, watchpoint hit); None otherwise."""
        cpu, executor = self.cpu, self.executor
        rip, icount = cpu.rip, cpu.icount
        self._disarm()
        try:
            self.recorder.accesses.clear()
            while cpu.rip == rip and cpu.icount == icount:
                try:
                    block = self.emu.translator.translate(rip, 1)
                except GuestFault:                 # the pc is not executable
                    stop = executor.deliver(GuestFault(Vector.PF, rip, False, rip))
                else:
                    reason = self.recorder.run(block)
                    stop = None if reason == ExitReason.MISS else executor.handle(reason)
                if stop is not None:
                    return stop
        finally:
            self._arm()
        for addr, size, is_write in self.recorder.accesses:
            for watch in self.watches:
                if watch.hit_by(addr, size, is_write):
                    self.watch_hit = watch
                    return Stop("watch")
        return None

    def resume(self, step: bool, signal: int) -> Stop:
        """Run until something stops it: a Stop whose reason is one of DEBUG_REASONS
        (gdb is told and the guest can go on), or the run's end."""
        fault, self.pending_fault = self.pending_fault, None
        self.watch_hit = None
        stop = None
        if fault is not None and signal:
            stop = self.services.inner.fault(self.executor, fault)
        if stop is None and (step or self.cpu.rip in self.breakpoints):
            stop = self.step_one()                 # past the breakpoint it stands on
            if stop is None and step:
                stop = Stop("step")
        if stop is None:
            self._arm()
            stop = self._run_stepping() if any(w.kind != WRITE for w in self.watches) else self.executor.loop()
        if stop.reason == "debug_fault":
            self.pending_fault = stop.fault
        return stop

    def _run_stepping(self) -> Stop:
        """Run by single steps (read watchpoints need to see every load)."""
        while True:
            stop = self.step_one()
            if stop is not None:
                return stop
            if self.cpu.rip in self.breakpoints or self.interrupted():
                return Stop("until" if self.cpu.rip in self.breakpoints else "debug_interrupt")

    def detach(self) -> None:
        """Forget every breakpoint and watchpoint; the guest runs on undebugged."""
        for addr in list(self.breakpoints):
            self.remove_breakpoint(addr)
        self._disarm()
        self.watches.clear()
        self.executor.services = self.services.inner
