"""Hooks of the Python API (dbt/api.py): Python called at chosen blocks, instructions,
memory ranges and syscalls, in both engines.

A hook costs nothing where it does not apply. Block hooks and fetch hooks are stop
points (dbt/frontend/stops.py): only the blocks they name start with a stop block,
which exits STOP; the hooks run, then the block's real code (`TBCache.body`).
Read and write hooks mark their pages WATCH_R / WATCH_W in the page table, so only
loads / stores on those pages leave translated code; that one instruction is then
interpreted here, each access checked against the hooks' exact [begin, end).
Syscall hooks run on the syscall exit, before and after the machine's service.
"""
from collections.abc import Callable
from dataclasses import dataclass

from dbt.backend.interp import Interpreter
from dbt.ir.exits import ExitReason
from dbt.runtime.executor import Stop
from dbt.runtime.memory import PAGE_SHIFT, W, WATCH_R, WATCH_W, GuestFault

U64 = (1 << 64) - 1
SPACE_END = 1 << 64
KINDS = ("block", "fetch", "read", "write", "syscall", "syscall_after")


@dataclass(eq=False)
class Hook:
    """One registered hook: `fn` called for `kind` events in [begin, end) (None: everywhere)."""
    kind: str
    fn: Callable
    begin: int | None = None
    end: int | None = None

    def covers(self, addr: int, size: int = 1) -> bool:
        return self.begin is None or (addr < self.end and addr + size > self.begin)


@dataclass
class Syscall:
    """A syscall as hooks see it. A before-hook may change `number` and `args` (passed on to
    the syscall), or set `result` to skip the syscall and return that value; an after-hook
    may change `result` (what rax gets; negative: -errno)."""
    number: int
    args: list[int]
    result: int | None = None

    def skip(self, result: int) -> None:
        self.result = result


ARG_REGS = ("rdi", "rsi", "rdx", "r10", "r8", "r9")


class HookStepper(Interpreter):
    """The interpreter for one instruction that touched a watched page: accesses go through,
    and read/write hooks covering them are called (a hook's non-None result replaces the
    value loaded or stored)."""
    watches = False

    def __init__(self, cpu, mem, hooks):
        super().__init__(cpu, mem)
        self.hooks = hooks

    def _load(self, addr: int, size: int) -> int:
        value = super()._load(addr, size)
        return self.hooks.memory_event("read", addr, size, value)

    def _store(self, addr: int, size: int, value: int) -> None:
        try:
            self.mem.check(addr, size, W)
        except GuestFault:
            return super()._store(addr, size, value)      # the guest's fault, and no hook
        value = self.hooks.memory_event("write", addr, size, value)
        self.mem.invalidate_code(addr >> PAGE_SHIFT, (addr + size - 1) >> PAGE_SHIFT)
        return super()._store(addr, size, value)


class Hooks:
    def __init__(self, emu):
        self.emu = emu
        self.hooks: list[Hook] = []
        self.stepper = HookStepper(emu.cpu, emu.mem, self)
        self.stop_requested = False

    # -- registration ----------------------------------------------------------------
    def add(self, kind: str, fn: Callable, begin: int | None = None, end: int | None = None) -> Hook:
        if kind not in KINDS:
            raise ValueError(f"unknown hook kind {kind!r} (choose from {', '.join(KINDS)})")
        if begin is not None and end is not None and not begin < end:
            raise ValueError(f"empty hook range [{begin:#x}, {end:#x})")
        if kind in ("read", "write") and (begin is None or end is None):
            raise ValueError("a memory hook needs a range [begin, end)")
        hook = Hook(kind, fn, begin, end)
        self.hooks.append(hook)
        self._apply(hook)
        return hook

    def remove(self, hook: Hook) -> None:
        if hook not in self.hooks:
            raise ValueError("this hook is not registered")
        self.hooks.remove(hook)
        self._apply(hook)

    def of_kind(self, kind: str) -> list[Hook]:
        return [h for h in self.hooks if h.kind == kind]

    def _apply(self, changed: Hook) -> None:
        """Make stop points and watched pages match the hooks; drop the blocks that change."""
        stops, blocks = self.emu.translator.stops, self.of_kind("block")
        stops.all_blocks = any(h.begin is None for h in blocks)
        stops.hooked = frozenset(h.begin for h in blocks if h.begin is not None and h.end is None)
        stops.starts = tuple((h.begin, h.end) for h in blocks if h.begin is not None and h.end is not None)
        stops.every = tuple((h.begin or 0, h.end if h.begin is not None else SPACE_END)
                            for h in self.of_kind("fetch"))
        mem = self.emu.mem
        mem.unwatch_all()
        for kind, bit in (("read", WATCH_R), ("write", WATCH_W)):
            mem.watch({page for h in self.of_kind(kind)
                       for page in range(h.begin >> PAGE_SHIFT, ((h.end - 1) >> PAGE_SHIFT) + 1)}, bit)
        if changed.kind in ("block", "fetch"):
            begin = 0 if changed.begin is None else changed.begin
            end = SPACE_END if changed.begin is None else (changed.end or changed.begin + 1)
            self.emu.tbs.drop(begin, end)

    # -- events ----------------------------------------------------------------------
    def _stopped(self) -> Stop | None:
        if self.stop_requested:
            self.stop_requested = False
            return Stop("stopped")
        return None

    def at_stop(self, executor) -> Stop | None:
        """A stop block exited: the end of the run, or the hooks of this block then its code."""
        cpu, tbs = executor.cpu, executor.tbs
        pc = cpu.rip
        if pc in tbs.translator.stops.until:
            return Stop("until")
        if cpu.icount >= cpu.budget:          # the block would not run: no hooks for it
            return executor.budget_tail()
        size = tbs.body(tbs.lookup(pc)).size
        for hook in self.of_kind("block"):
            if hook.covers(pc) if hook.end is not None else hook.begin in (None, pc):
                hook.fn(self.emu, pc, size)
        for hook in self.of_kind("fetch"):
            if hook.covers(pc):
                hook.fn(self.emu, "fetch", pc, size, None)
        stop = self._stopped()
        if stop is not None or cpu.rip != pc:    # stopped, or a hook moved the pc
            return stop
        tb = tbs.lookup(pc)                       # hooks may have changed code or hooks
        if not tb.stop:
            return None                           # no longer a stop: the loop runs it as any block
        reason = executor.execute(tbs.body(tb).code)
        return None if reason == ExitReason.MISS else executor.handle(reason)

    def memory_event(self, access: str, addr: int, size: int, value: int) -> int:
        for hook in self.of_kind(access):
            if hook.covers(addr, size):
                result = hook.fn(self.emu, access, addr, size, value)
                if result is not None:
                    value = result & ((1 << (8 * size)) - 1)
        return value

    def step_access(self, executor) -> Stop | None:
        """An access exited on a watched page: run its instruction here, hooks checking each access."""
        block = executor.tbs.translator.translate(executor.cpu.rip, 1)
        reason = self.stepper.run(block)
        executor.stats.count("memory_hook_steps")
        stop = self._stopped()
        if stop is not None:
            return stop
        return None if reason == ExitReason.MISS else executor.handle(reason)

    def syscall(self, executor) -> Stop | None:
        """The syscall exit: before-hooks, the service (unless skipped), after-hooks."""
        cpu = executor.cpu
        before, after = self.of_kind("syscall"), self.of_kind("syscall_after")
        if not before and not after:
            return executor.services.syscall(executor)
        call = Syscall(cpu.rax, [getattr(cpu, reg) for reg in ARG_REGS])
        for hook in before:
            hook.fn(self.emu, call)
        stop = self._stopped()
        if stop is not None:
            return stop
        if call.result is None:
            cpu.rax = call.number & U64
            for reg, value in zip(ARG_REGS, call.args):
                setattr(cpu, reg, value & U64)
            stop = executor.services.syscall(executor)
            if stop is not None:
                return stop
            call.result = cpu.rax - (1 << 64) if cpu.rax >> 63 else cpu.rax
        else:
            cpu.rcx, cpu.r11 = cpu.rip, self.emu.rflags     # what the syscall instruction does
        for hook in after:
            hook.fn(self.emu, call)
        cpu.rax = call.result & U64
        return self._stopped()
