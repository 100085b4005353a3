"""A Linux user-mode process: loads a static ELF, builds the initial stack, serves exits.

The process is the `Services` behind the executor for user mode. It owns the
guest's file descriptors (fdtable.py), its view of the file system
(paths.py, confined to --root when given), its memory map (vma.py: program,
brk heap, an mmap area below the stack, the stack), its signal state
(signals.py) and interval timers (itimers.py: a due timer stops translated
code through exit_request, and `interrupt` delivers its signal). Syscalls go to the table in syscalls.py; a guest fault goes to
the signal state, which runs a guest handler or ends the run the way the
kernel's default action would (one line, status 128 + signal).
Memory layout: program (static-PIE at PIE_BASE), then brk; mmap areas are
placed top-down below MMAP_GAP under the stack; the stack ends STACK_GUARD
below the top of the guest space.
"""
import errno
import os
import signal
from dataclasses import dataclass

from dbt.api import Emulator
from dbt.frontend.x86.cpuid import CPUID_LEAVES
from dbt.ir.exits import Vector
from dbt.runtime.executor import Services, Stop
from dbt.runtime.host_events import SignalWake, TimeLimitExpired, WallClockLimit
from dbt.runtime.linux.elf import PF_R, PF_W, PF_X, load_elf
from dbt.runtime.linux.fdtable import FdTable
from dbt.runtime.linux.itimers import IntervalTimers
from dbt.runtime.linux.paths import PathResolver
from dbt.runtime.linux.signals import SI_USER, SignalState, siginfo
from dbt.runtime.linux.strace import format_call, format_result, syscall_name
from dbt.runtime.linux.sys_mem import MMAP_MIN_ADDR, memory_limit
from dbt.runtime.linux.sys_proc import NR_OPEN, RLIMIT_AS, RLIMIT_NOFILE, host_rlimits
from dbt.runtime.linux.syscalls import ERESTARTSYS, ProcessExit, ProcessKilled, dispatch
from dbt.runtime.linux.vma import PROT_EXEC, PROT_READ, PROT_WRITE, AddressSpace, Area
from dbt.runtime.memory import PAGE_SIZE, GuestFault

STACK_SIZE = 8 << 20
STACK_GUARD = 16 * PAGE_SIZE        # unmapped pages kept above the stack
MMAP_GAP = 128 << 20                # between the stack and the top of the mmap area (as Linux's minimum gap)
BUDGET_STATUS = 124                 # --max-insns or --timeout spent (as timeout(1) reports a timeout)
U64 = (1 << 64) - 1
SYSCALL_INSN_SIZE = 2               # syscall (0f 05): a restarted call runs it again

SIGNAL_OF_VECTOR = {Vector.DE: signal.SIGFPE, Vector.UD: signal.SIGILL, Vector.BP: signal.SIGTRAP,
                    Vector.DB: signal.SIGTRAP, Vector.GP: signal.SIGSEGV, Vector.PF: signal.SIGSEGV}

AT = {"NULL": 0, "PHDR": 3, "PHENT": 4, "PHNUM": 5, "PAGESZ": 6, "BASE": 7, "FLAGS": 8, "ENTRY": 9,
      "UID": 11, "EUID": 12, "GID": 13, "EGID": 14, "PLATFORM": 15, "HWCAP": 16, "CLKTCK": 17,
      "SECURE": 23, "RANDOM": 25, "EXECFN": 31}


@dataclass
class RunResult:
    status: int
    message: str | None = None       # the one line to print, if the run did not end by exit


@dataclass
class Heap:
    start: int                       # brk's lowest value: the page after the program
    cur: int                         # the current break


def _prot_of_segment(flags: int) -> int:
    return ((PROT_READ if flags & PF_R else 0) | (PROT_WRITE if flags & PF_W else 0)
            | (PROT_EXEC if flags & PF_X else 0))


class LinuxProcess(Services):
    def __init__(self, path: str, argv: list[str], env: dict[str, str] | None = None,
                 engine: str = "jit", trace=None, opt: int = 0, root: str | None = None,
                 strace=None, max_memory: int | None = None, code_cache: str | bool | None = None,
                 regions: str | None = None, jit_after: int = 1):
        """strace: a text stream to log each syscall to (--strace), or None; max_memory: the
        most bytes the guest may map (--max-memory; also its RLIMIT_AS), or None.
        code_cache: the JIT's code cache directory, False for none, None for DBT_CACHE's choice.
        regions: hot regions mode (dbt.runtime.regions.MODES), None for DBT_REGIONS's choice.
        jit_after: the jit compiles a block on its jit_after-th run (dbt/runtime/tiers.py)."""
        self.emu = Emulator(engine, services=self, trace=trace, opt=opt, code_cache=code_cache,
                            regions=regions, jit_after=jit_after)
        self.mem, self.cpu = self.emu.mem, self.emu.cpu
        self.pid = os.getpid()
        self.strace = strace
        self.report: str | None = None         # the line for a run a syscall ended by a signal
        self.program = load_elf(path, self.mem, self.emu.codecache)
        self.rlimits = host_rlimits()
        self.max_memory = max_memory
        if max_memory is not None:
            self.rlimits[RLIMIT_AS] = tuple(min(limit, max_memory) for limit in self.rlimits[RLIMIT_AS])
        self.fds = FdTable.inherited(min(self.rlimits[RLIMIT_NOFILE][0], NR_OPEN))
        self.paths = PathResolver(root, path, self.fds, generated={
            b"cmdline": lambda: self._strings(self.arg_area), b"environ": lambda: self._strings(self.env_area),
            b"auxv": lambda: self.auxv, b"maps": lambda: self.vm.maps_text()})
        self.signals = SignalState()
        self.timers = IntervalTimers(self.cpu)
        self.clear_child_tid = self.robust_list = 0
        self.comm = os.path.basename(os.fsencode(path))[:15]
        stack_top = self.mem.size - STACK_GUARD
        self.vm = AddressSpace(self.mem, MMAP_MIN_ADDR, stack_top - STACK_SIZE - MMAP_GAP)
        name = os.fsdecode(self.paths.exe_guest)
        for start, end, flags in self.program.areas:       # already in GuestMemory
            self.vm.areas.append(Area(start, end, _prot_of_segment(flags), name))
        self.vm.map(stack_top - STACK_SIZE, stack_top, PROT_READ | PROT_WRITE, "[stack]")
        self.heap = Heap(self.program.brk, self.program.brk)
        if self.vm.mapped_bytes() > memory_limit(self):
            raise ValueError(f"the program's image and stack alone take {self.vm.mapped_bytes()} bytes, "
                             f"more than the memory limit of {memory_limit(self)}")
        env = dict(os.environ) if env is None else env
        self.cpu.rsp = self._build_stack(stack_top, path, argv, [f"{k}={v}" for k, v in env.items()])
        self.cpu.rip = self.program.entry

    def host_fd(self, fd: int) -> int:
        return self.fds.host(fd)

    def raise_signal(self, signo: int) -> None:
        """The kernel sends the calling thread a signal (SIGPIPE); delivered after the syscall."""
        self.signals.send(signo, siginfo(signo, SI_USER, self.pid, os.getuid(), fmt="iI"), shared=False)

    # -- start-up ---------------------------------------------------------------
    def _build_stack(self, top: int, path: str, argv: list[str], envp: list[str]) -> int:
        mem = self.mem
        sp = top

        def put_bytes(data: bytes) -> int:
            nonlocal sp
            sp -= len(data)
            mem.poke(sp, data)
            return sp

        def put_strings(strings: list[str]) -> tuple[list[int], int, int]:
            """Strings one after the other, ascending as Linux copies them: (pointers, start, end)."""
            data = [os.fsencode(text) + b"\0" for text in strings]
            start = end = put_bytes(b"".join(data))
            ptrs = []
            for item in data:
                ptrs.append(end)
                end += len(item)
            return ptrs, start, end

        execfn = put_bytes(os.fsencode(path) + b"\0")
        env_ptrs, *self.env_area = put_strings(envp)
        arg_ptrs, *self.arg_area = put_strings(argv)
        platform = put_bytes(b"x86_64\0")
        random = put_bytes(os.urandom(16))
        p = self.program
        hwcap = CPUID_LEAVES[1][3]
        auxv = [("PHDR", p.phdr), ("PHENT", p.phent), ("PHNUM", p.phnum), ("PAGESZ", PAGE_SIZE),
                ("BASE", 0), ("FLAGS", 0), ("ENTRY", p.entry), ("UID", os.getuid()),
                ("EUID", os.geteuid()), ("GID", os.getgid()), ("EGID", os.getegid()),
                ("PLATFORM", platform), ("HWCAP", hwcap), ("CLKTCK", 100), ("SECURE", 0),
                ("RANDOM", random), ("EXECFN", execfn), ("NULL", 0)]
        words = [len(argv), *arg_ptrs, 0, *env_ptrs, 0]
        for key, value in auxv:
            words += [AT[key], value]
        self.auxv = b"".join(w.to_bytes(8, "little") for w in words[len(argv) + len(envp) + 3:])
        sp = (sp - 8 * len(words)) & ~0xF
        mem.poke(sp, b"".join(w.to_bytes(8, "little") for w in words))
        return sp

    def _strings(self, area: list[int]) -> bytes:
        """The argv or envp strings as they are now in guest memory (what /proc shows)."""
        start, end = area
        return self.mem.peek(start, end - start)

    # -- running -----------------------------------------------------------------
    def run(self, max_insns: int | None = None, timeout: float | None = None) -> RunResult:
        """max_insns: the instruction budget; timeout: the wall-clock budget in seconds."""
        try:
            with WallClockLimit(self.cpu, timeout), SignalWake(self.cpu):   # both reach native code
                stop = self.emu.run(max_insns=max_insns)
        except TimeLimitExpired as e:
            return RunResult(BUDGET_STATUS, f"dbt: {e} at pc {self.cpu.rip:#x}")
        finally:
            self.timers.close()
            self.vm.close()
            self.fds.close_all()
        if stop.reason == "exit":
            return RunResult(stop.status)
        if stop.reason == "signal":
            if stop.status == 128 + signal.SIGPIPE:
                return RunResult(stop.status)        # a broken pipe ends quietly, as in a shell
            return RunResult(stop.status, self.report or self.signals.report)
        if stop.reason == "budget":
            return RunResult(BUDGET_STATUS, f"dbt: instruction budget of {max_insns} spent at pc {self.emu.cpu.rip:#x}")
        if stop.reason == "fault":
            return self.fault_result(stop.fault)
        if stop.reason == "killed":
            return RunResult(stop.status, "dbt: killed by the debugger")
        return RunResult(1, f"dbt: run stopped ({stop.reason}) at pc {self.emu.cpu.rip:#x}")

    # -- services ----------------------------------------------------------------
    def syscall(self, executor) -> Stop | None:
        cpu = self.cpu
        number = cpu.rax
        args = (cpu.rdi, cpu.rsi, cpu.rdx, cpu.r10, cpu.r8, cpu.r9)
        call = format_call(self.mem, number, args) if self.strace is not None else None
        try:
            result = dispatch(self, number, args)
        except ProcessExit as e:
            self._log(call)
            return Stop("exit", status=e.status)
        except ProcessKilled as e:
            self._log(call)
            self.report = e.message
            return Stop("signal", status=128 + e.signal)
        cpu.rcx, cpu.r11 = cpu.rip, self.emu.rflags
        rax = result
        if result == -ERESTARTSYS:           # a signal interrupted a wait: restart, or -EINTR
            result = rax = -errno.EINTR
            if self.signals.restarts():
                rax, cpu.rip = number, cpu.rip - SYSCALL_INSN_SIZE
        cpu.rax = rax & U64
        if call is not None:
            self._log(f"{call} = {format_result(number, result)}")
        if result == -errno.ENOSYS and self.emu.trace is not None:
            self.emu.trace.unimp(f"syscall {number} ({syscall_name(number)}) returned -ENOSYS")
        return None

    def syscall_return(self, executor) -> Stop | None:
        return self.signals.deliver_pending(self)

    def _log(self, line: str | None) -> None:
        if line is not None:
            self.strace.write(f"{self.pid} {line}\n")
            self.strace.flush()

    def fault(self, executor, fault: GuestFault) -> Stop | None:
        if fault.vector == Vector.UD and self.emu.trace is not None:
            pc = self.cpu.rip
            desc, why = self.describe_insn(pc)
            if why is not None:
                self.emu.trace.unimp(f"instruction at pc {pc:#x}: {desc}")
        return self.signals.deliver_fault(self, fault)

    def interrupt(self, executor) -> Stop | None:
        """exit_request: an interval timer is due (or a host signal came): deliver what is pending."""
        self.timers.expire(self.signals)
        return self.signals.deliver_pending(self)

    # -- reporting ----------------------------------------------------------------
    def fault_result(self, fault: GuestFault) -> RunResult:
        sig = SIGNAL_OF_VECTOR.get(fault.vector, signal.SIGSEGV)
        pc = fault.pc if fault.pc is not None else self.emu.cpu.rip
        insn_desc = self.describe_insn(pc)
        if sig == signal.SIGSEGV and fault.vector != Vector.PF:
            what = "general protection fault (a privileged instruction at user level)"
        elif sig == signal.SIGSEGV:
            what = f"{'write to' if fault.write else 'access to'} address {fault.addr:#x}"
            if fault.addr == pc and not fault.write:
                what = f"pc {pc:#x} is not executable"
        elif sig == signal.SIGILL:
            what = "unsupported instruction" if insn_desc[1] is not None else "illegal instruction"
        elif sig == signal.SIGFPE:
            what = "integer divide error"
        else:
            what = "trap"
        return RunResult(128 + sig, f"dbt: guest killed by {sig.name}: {what} at pc {pc:#x} ({insn_desc[0]})")

    def describe_insn(self, pc: int) -> tuple[str, str | None]:
        """('bytes: mnemonic operands', why dbt cannot lift it or None) for the report."""
        try:
            insn, why = self.emu.translator.diagnose(pc)
        except GuestFault:
            return "no executable code there", None
        if insn is None:
            raw = self.mem.peek(pc, 4) if self.mem.is_mapped(pc) else b""
            return f"{raw.hex(' ')}: not a valid instruction", None
        text = f"{insn.mnemonic} {insn.op_str}".strip()
        return f"{bytes(insn.bytes).hex(' ')}: {text}{'; ' + why if why else ''}", why
