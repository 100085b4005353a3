"""A Linux user-mode process: loads a static ELF, builds the initial stack, serves exits.

The process is the `Services` behind the executor for user mode: syscalls
go to the table in syscalls.py; a guest fault with no handler ends the run
the way the kernel's default action would, with one line naming the signal,
the pc, the address and the instruction, and status 128 + signal.
"""
import os
import signal
from dataclasses import dataclass

from dbt.api import Emulator
from dbt.frontend.x86.lifters import LIFTERS
from dbt.frontend.x86.sem_system import CPUID_LEAVES
from dbt.ir.exits import Vector
from dbt.runtime.executor import Services, Stop
from dbt.runtime.linux.elf import load_elf
from dbt.runtime.linux.syscalls import ProcessExit, dispatch
from dbt.runtime.memory import PAGE_SIZE, GuestFault

STACK_SIZE = 8 << 20
STACK_GUARD = 16 * PAGE_SIZE        # unmapped pages kept above the stack
BUDGET_STATUS = 124                 # --max-insns spent (as timeout(1) reports a timeout)

SIGNAL_OF_VECTOR = {Vector.DE: signal.SIGFPE, Vector.UD: signal.SIGILL, Vector.BP: signal.SIGTRAP,
                    Vector.DB: signal.SIGTRAP, Vector.GP: signal.SIGSEGV, Vector.PF: signal.SIGSEGV}

AT = {"NULL": 0, "PHDR": 3, "PHENT": 4, "PHNUM": 5, "PAGESZ": 6, "BASE": 7, "FLAGS": 8, "ENTRY": 9,
      "UID": 11, "EUID": 12, "GID": 13, "EGID": 14, "PLATFORM": 15, "HWCAP": 16, "CLKTCK": 17,
      "SECURE": 23, "RANDOM": 25, "EXECFN": 31}


@dataclass
class RunResult:
    status: int
    message: str | None = None       # the one line to print, if the run did not end by exit


class LinuxProcess(Services):
    def __init__(self, path: str, argv: list[str], env: dict[str, str] | None = None,
                 engine: str = "jit", trace=None, opt: int = 0):
        self.emu = Emulator(engine, services=self, trace=trace, opt=opt)
        self.mem = self.emu.mem
        self.fds = {0: 0, 1: 1, 2: 2}
        self.program = load_elf(path, self.mem)
        env = dict(os.environ) if env is None else env
        self.emu.cpu.rsp = self._build_stack(path, argv, [f"{k}={v}" for k, v in env.items()])
        self.emu.cpu.rip = self.program.entry

    def host_fd(self, fd: int) -> int:
        if fd not in self.fds:
            raise OSError(9, "bad file descriptor")   # EBADF
        return self.fds[fd]

    # -- start-up ---------------------------------------------------------------
    def _build_stack(self, path: str, argv: list[str], envp: list[str]) -> int:
        mem = self.mem
        top = mem.size - STACK_GUARD
        mem.map(top - STACK_SIZE, STACK_SIZE, "rw")
        sp = top

        def put_bytes(data: bytes) -> int:
            nonlocal sp
            sp -= len(data)
            mem.poke(sp, data)
            return sp

        execfn = put_bytes(path.encode() + b"\0")
        platform = put_bytes(b"x86_64\0")
        random = put_bytes(os.urandom(16))
        arg_ptrs = [put_bytes(a.encode() + b"\0") for a in argv]
        env_ptrs = [put_bytes(e.encode() + b"\0") for e in envp]
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
        sp = (sp - 8 * len(words)) & ~0xF
        mem.poke(sp, b"".join(w.to_bytes(8, "little") for w in words))
        return sp

    # -- running -----------------------------------------------------------------
    def run(self, max_insns: int | None = None) -> RunResult:
        stop = self.emu.run(max_insns=max_insns)
        if stop.reason == "exit":
            return RunResult(stop.status)
        if stop.reason == "budget":
            return RunResult(BUDGET_STATUS, f"dbt: instruction budget of {max_insns} spent at pc {self.emu.cpu.rip:#x}")
        if stop.reason == "fault":
            return self.fault_result(stop.fault)
        return RunResult(1, f"dbt: run stopped ({stop.reason}) at pc {self.emu.cpu.rip:#x}")

    # -- services ----------------------------------------------------------------
    def syscall(self, executor) -> Stop | None:
        cpu = self.emu.cpu
        args = (cpu.rdi, cpu.rsi, cpu.rdx, cpu.r10, cpu.r8, cpu.r9)
        try:
            result = dispatch(self, cpu.rax, args)
        except ProcessExit as e:
            return Stop("exit", status=e.status)
        cpu.rcx, cpu.r11 = cpu.rip, self.emu.rflags
        cpu.rax = result & ((1 << 64) - 1)
        return None

    def fault(self, executor, fault: GuestFault) -> Stop | None:
        return Stop("fault", fault=fault)       # no guest signal handlers yet: default action

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
            what = "unsupported instruction" if insn_desc[1] else "illegal instruction"
        elif sig == signal.SIGFPE:
            what = "integer divide error"
        else:
            what = "trap"
        return RunResult(128 + sig, f"dbt: guest killed by {sig.name}: {what} at pc {pc:#x} ({insn_desc[0]})")

    def describe_insn(self, pc: int) -> tuple[str, bool]:
        """('bytes: mnemonic operands', whether dbt lacks a lifter for it) for the report."""
        try:
            insn = self.emu.translator.decode_one(pc)
        except GuestFault:
            return "no executable code there", False
        if insn is None:
            raw = self.mem.peek(pc, 4) if self.mem.is_mapped(pc) else b""
            return f"{raw.hex(' ')}: not a valid instruction", False
        text = f"{insn.mnemonic} {insn.op_str}".strip()
        return f"{bytes(insn.bytes).hex(' ')}: {text}", insn.id not in LIFTERS
