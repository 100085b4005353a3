"""The executor loop: run translated code, and serve each exit it returns with.

Python runs here once per exit, not once per block: MISS (translate, link;
a tier-0 block, dbt/runtime/tiers.py, is interpreted here until it is compiled),
HOT (compile the block's region),
BUDGET, INTERRUPT, SYSCALL/HLT/FAULT (handed to the services of the machine:
Linux user mode or the pc), STOP (a stop point: the end of a run, or hooks of
the Python API, dbt/runtime/hooks.py, which also see syscalls and the
accesses that exit on pages memory hooks watch).
A store into a page that holds code (CODE_WRITE) drops the page's blocks and
runs that one instruction through the interpreter before going on; a group of
accesses whose one check did not pass (ACCESS_GROUP) has the rest of its block
interpreted.
Under gdb (`dbt run -g`), `debugger` drives the run and sees each CODE_WRITE
(dbt/runtime/gdbstub/).
"""
import time
from dataclasses import dataclass

from dbt.backend.interp import Interpreter
from dbt.frontend.x86.translate import MAX_BLOCK_INSNS
from dbt.ir.exits import SOFTWARE_INTERRUPT, ExitReason, Vector
from dbt.runtime.memory import PAGE_SHIFT, GuestFault


@dataclass
class Stop:
    """Why a run ended: 'until' (stop address), 'budget', 'exit', 'fault', 'interrupt', 'hlt';
    under gdb also 'killed' and the stops gdb is told of (gdbstub/target.py DEBUG_REASONS)."""
    reason: str
    status: int | None = None
    fault: GuestFault | None = None


class Services:
    """What a machine provides behind exits. The default ends the run on any of them."""

    def syscall(self, executor) -> Stop | None:
        return Stop("syscall")

    def syscall_return(self, executor) -> Stop | None:
        """Work due as a syscall returns to the guest (Linux: pending signals)."""
        return None

    def fault(self, executor, fault: GuestFault) -> Stop | None:
        return Stop("fault", fault=fault)

    def hlt(self, executor) -> Stop | None:
        return executor.fault_stop(Vector.GP, 0)

    def interrupt(self, executor) -> Stop | None:
        return Stop("interrupt")

    def budget(self, executor) -> Stop | None:
        """cpu.icount reached cpu.budget. A machine with timers moves the budget to the next
        deadline and returns None; by default the run ends."""
        return Stop("budget")

    def io(self, executor) -> Stop | None:
        return executor.fault_stop(Vector.GP, 0)

    def helper(self, executor) -> Stop | None:
        return executor.fault_stop(Vector.GP, 0)


class Executor:
    def __init__(self, cpu, mem, engine, tbs, stats, services: Services | None = None):
        self.cpu, self.mem, self.engine, self.tbs, self.stats = cpu, mem, engine, tbs, stats
        self.services = services or Services()
        self.stepper = Interpreter(cpu, mem)
        self.debugger = None       # a gdb session (gdbstub.session.GdbSession) or None
        self.hooks = None          # the API's hooks (hooks.Hooks) or None
        self.trace = None          # a -d trace (trace.Trace) when it logs exceptions, or None

    def run(self) -> Stop:
        try:
            if self.debugger is not None:
                return self.debugger.run(self)
            return self.loop()
        finally:
            self.tbs.save()           # blocks compiled this run, to the persistent code cache

    def loop(self) -> Stop:
        """Run translated code until an exit's service returns a Stop."""
        cpu, stats = self.cpu, self.stats
        while True:
            try:
                tb = self.tbs.lookup(cpu.rip)
            except GuestFault as fault:       # the pc (or the rest of its instruction) is not executable
                result = self.deliver(GuestFault(Vector.PF, fault.addr, False, cpu.rip))
                if result is not None:
                    return result
                continue
            native = not tb.tier0 or self.tbs.promote(tb)      # promote: may compile it now
            t0 = time.perf_counter()
            reason = self.execute(tb.code) if native else self.stepper.run(tb.ir)
            elapsed = time.perf_counter() - t0
            stats.add_time("execute", elapsed)
            if not native:
                stats.add_time("interp", elapsed)
            stats.count(f"exit_{reason.name.lower()}")
            if reason != ExitReason.MISS:
                result = self.handle(reason)
                if result is not None:
                    return result

    def execute(self, code) -> ExitReason:
        """Run translated code; a region worker may install regions meanwhile (and only then)."""
        worker = self.tbs.worker
        if worker is None:
            return self.engine.execute(code)
        worker.gate.release()
        try:
            return self.engine.execute(code)
        finally:
            worker.gate.acquire()

    def handle(self, reason: ExitReason) -> Stop | None:
        cpu = self.cpu
        if reason == ExitReason.BUDGET:
            return self.budget_tail()
        if reason == ExitReason.STOP:
            return Stop("until") if self.hooks is None else self.hooks.at_stop(self)
        if reason == ExitReason.HOT:
            self.tbs.regionize(cpu.rip)
            return None
        if reason == ExitReason.INTERRUPT:
            cpu.clear_exit_request()
            return self.services.interrupt(self)
        if reason == ExitReason.SYSCALL:
            stop = self.services.syscall(self) if self.hooks is None else self.hooks.syscall(self)
            return stop if stop is not None else self.services.syscall_return(self)
        if reason == ExitReason.HLT:
            return self.services.hlt(self)
        if reason == ExitReason.IO:
            return self.services.io(self)
        if reason == ExitReason.HELPER:
            return self.services.helper(self)
        if reason == ExitReason.FAULT:
            if cpu.exit_vector == Vector.CODE_WRITE:
                return self.step_code_write() if self.debugger is None else self.debugger.code_write(self)
            if cpu.exit_vector == Vector.ACCESS_GROUP:
                return self.interpret_from_here("access_group_steps")
            vector = int(cpu.exit_vector)
            if vector == Vector.PF and self.mem.watched and self.hooks is not None and self.mem.watch_hit(
                    cpu.exit_addr, bool(cpu.exit_error & 2)):
                return self.hooks.step_access(self)
            return self.deliver(GuestFault(vector, cpu.exit_addr,
                                           vector == Vector.PF and bool(cpu.exit_error & 2), cpu.rip,
                                           software=bool(cpu.exit_error & SOFTWARE_INTERRUPT),
                                           error=cpu.exit_error & 0xFFFF))
        raise RuntimeError(f"unexpected exit {reason!r}")

    def deliver(self, fault: GuestFault) -> Stop | None:
        if self.trace is not None:
            self.trace.exception(fault, self.cpu.rip if fault.pc is None else fault.pc)
        return self.services.fault(self, fault)

    def fault_stop(self, vector: int, addr: int) -> Stop | None:
        return self.deliver(GuestFault(vector, addr, False, self.cpu.rip))

    def budget_tail(self) -> Stop | None:
        """Run exactly the instructions left in the budget (fewer than a block), interpreted:
        a block cut short is used once, so compiling it would cost more than it saves."""
        cpu = self.cpu
        left = cpu.budget - cpu.icount
        if left <= 0:
            return self.services.budget(self)
        return self.interpret_from_here("budget_tail_steps", left)

    def step_code_write(self) -> Stop | None:
        """A store hit a page of translated code: drop those blocks, then interpret that one insn."""
        addr = self.cpu.exit_addr
        self.mem.invalidate_code(addr >> PAGE_SHIFT, (addr + 15) >> PAGE_SHIFT)
        return self.interpret_from_here("code_write_steps", 1)

    def interpret_from_here(self, counter: str, max_insns: int = MAX_BLOCK_INSNS) -> Stop | None:
        """Interpret from rip (`interpret`), counted in `counter`, and serve the exit."""
        reason = self.interpret(max_insns)
        self.stats.count(counter)
        return None if reason == ExitReason.MISS else self.handle(reason)

    def interpret(self, max_insns: int = MAX_BLOCK_INSNS) -> ExitReason:
        """Interpret from rip: max_insns instructions, or to the end of the block there (after a
        group of accesses left native code: each of them is checked alone)."""
        return self.stepper.run(self.tbs.translator.translate(self.cpu.rip, max_insns))
