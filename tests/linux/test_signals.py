"""Linux signals in user mode: guest programs that catch, block, raise and die of signals.

The C programs of signals_src/ are built at test time with musl-gcc and gcc
(-O2 -static), run natively (the expected stdout and exit status) and under
`dbt run` with both engines; the two must agree byte for byte. The runs are
started together, in parallel, once per session. Unit tests at the end drive
SignalState directly for what a program cannot show (the exact frame bytes,
waits that natively would hang).
"""
import os
import resource
import shutil
import struct
import subprocess
import sys
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dbt.api import Emulator
from dbt.runtime.linux import sys_signal
from dbt.runtime.linux.errors import ProcessKilled
from dbt.runtime.linux.itimers import IntervalTimers
from dbt.runtime.linux.signals import (FRAME_SIZE, INFO_OFFSET, SA_RESTORER, SA_SIGINFO, SIGCONTEXT_OFFSET,
                                       SIGMASK_OFFSET, UC_OFFSET, SignalState, SigAction, sigbit)
from dbt.runtime.linux.vma import PROT_READ, PROT_WRITE, AddressSpace
from dbt.runtime.memory import GuestFault

REPO = Path(__file__).resolve().parents[2]
SRC = Path(__file__).resolve().parent / "signals_src"
CFLAGS = ["-O2", "-static", "-no-pie", "-w"]
COMPILERS = {"musl": "musl-gcc", "glibc": "gcc"}
STACK_LIMIT = 8 << 20          # the native stack limit, the size of dbt's guest stack
TIMEOUT = 300

# (program, arguments): every one runs under both engines with both C libraries.
PROGRAMS = [("faults", ()), ("selfsig", ()), ("altstack", ()), ("altstack", ("noalt",))]
# Timer signals land wherever the host clock says: same output, not the same instruction count.
TIMED = [("timers", ())]
# deaths.c: (arguments, engine, libc). Each prints a line first, which must survive the death.
DEATHS = [(args, "interp", "musl") for args in
          (("abort",), ("abort-handled",), ("kill", "15"), ("kill", "10"), ("kill", "9"), ("kill", "17"),
           ("kill", "28"), ("kill", "40"), ("segv",), ("segv-blocked",), ("segv-ignored",), ("fpe",),
           ("badstack",))]
DEATHS += [(args, "jit", "musl") for args in (("abort",), ("segv",), ("kill", "15"), ("badstack",))]
DEATHS += [(args, "interp", "glibc") for args in (("abort",), ("abort-handled",), ("kill", "10"),
                                                   ("segv-blocked",), ("fpe",))]
CASES = ([(name, args, engine, libc) for name, args in PROGRAMS + TIMED for engine in ("jit", "interp")
          for libc in COMPILERS]
         + [("deaths", args, engine, libc) for args, engine, libc in DEATHS])
SIGNAL_NAMES = {6: "SIGABRT", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 14: "SIGALRM", 15: "SIGTERM",
                40: "real-time signal 40"}


def case_id(case) -> str:
    name, args, engine, libc = case
    return "-".join([name, *args, engine, libc])


def shell_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def limit_stack():
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    limit = STACK_LIMIT if hard == resource.RLIM_INFINITY else min(STACK_LIMIT, hard)
    resource.setrlimit(resource.RLIMIT_STACK, (limit, hard))


def build(libc: str, name: str, outdir: Path) -> Path | None:
    compiler = shutil.which(COMPILERS[libc])
    if compiler is None:
        return None
    out = outdir / f"{name}-{libc}"
    done = subprocess.run([compiler, *CFLAGS, "-o", str(out), str(SRC / f"{name}.c")],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"{COMPILERS[libc]} failed on {name}.c:\n{done.stderr}")
    return out


def run_native(prog: Path, args) -> subprocess.CompletedProcess:
    return subprocess.run([str(prog), *args], capture_output=True, timeout=TIMEOUT, preexec_fn=limit_stack)


def run_dbt(prog: Path, args, engine: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "dbt", "run", "--stats", "--engine", engine, str(prog), *args]
    return subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, cwd=REPO)


def split_stats(stderr: bytes) -> tuple[str, dict[str, str]]:
    """(stderr without the --stats block, the block's figures)."""
    rest, stats = [], {}
    for line in stderr.decode(errors="replace").splitlines():
        if line == "dbt stats:":
            continue
        if line.startswith("  ") and len(line.split()) == 2:
            key, value = line.split()
            stats[key] = value
        else:
            rest.append(line)
    return "\n".join(rest), stats


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """case -> (native run, dbt run) for every case, all run in parallel once."""
    outdir = tmp_path_factory.mktemp("signals")
    bins = {(name, libc): build(libc, name, outdir)
            for name in sorted({case[0] for case in CASES}) for libc in COMPILERS}
    runnable = [c for c in CASES if bins[c[0], c[3]] is not None]
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        natives = {(name, args, libc): pool.submit(run_native, bins[name, libc], args)
                   for name, args, _, libc in runnable}
        dbts = {c: pool.submit(run_dbt, bins[c[0], c[3]], c[1], c[2]) for c in runnable}
        return {c: (natives[c[0], c[1], c[3]].result(), dbts[c].result()) for c in runnable}


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_native(case, results):
    if case not in results:
        pytest.skip(f"{COMPILERS[case[3]]} is not installed")
    native, got = results[case]
    err, _ = split_stats(got.stderr)
    assert "Traceback" not in err and "internal error" not in err, err
    if case[3] == "glibc" and "unsupported instruction" in err:
        pytest.skip(f"glibc needs an instruction dbt lacks: {err.strip()}")
    assert got.stdout == native.stdout, err
    status = shell_status(native.returncode)
    assert got.returncode == status, err
    if status > 128:           # one line naming the signal, as the kernel's default action
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"dbt: guest killed by {SIGNAL_NAMES[status - 128]}"), err
    else:
        assert err == "", err


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: "-".join([p[0], *p[1]]))
@pytest.mark.parametrize("libc", COMPILERS)
def test_engines_retire_same_insns(program, libc, results):
    name, args = program
    runs = [results.get((name, args, engine, libc)) for engine in ("jit", "interp")]
    if None in runs:
        pytest.skip(f"{COMPILERS[libc]} is not installed")
    jit, interp = (split_stats(got.stderr)[1] for _, got in runs)
    assert int(jit["insns_retired"]) > 0
    assert jit["insns_retired"] == interp["insns_retired"]


# -- SignalState on a bare Emulator ------------------------------------------------------------
STACK_TOP = 0x7000_0000
HANDLER, RESTORER, RESUME = 0x40_1000, 0x40_2000, 0x40_3000


def make_proc():
    emu = Emulator("interp")
    vm = AddressSpace(emu.mem, 0x10000, STACK_TOP)
    vm.map(STACK_TOP - 0x10000, STACK_TOP, PROT_READ | PROT_WRITE, "[stack]")
    proc = types.SimpleNamespace(emu=emu, mem=emu.mem, cpu=emu.cpu, vm=vm, pid=4321, signals=SignalState(),
                                 timers=IntervalTimers(emu.cpu))
    cpu = emu.cpu
    for i, name in enumerate(("rax", "rcx", "rdx", "rbx", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11",
                              "r12", "r13", "r14", "r15")):
        setattr(cpu, name, 0x1111 * (i + 1))
    cpu.rsp, cpu.rip = STACK_TOP - 0x1003, RESUME      # a misaligned sp: the frame must align itself
    cpu.xmm[3], cpu.mxcsr = 0xDEADBEEF, 0x3F80
    return proc


def install(proc, signo: int, flags: int = SA_SIGINFO | SA_RESTORER, mask: int = 0):
    proc.signals.set_action(signo, SigAction(HANDLER, flags, RESTORER, mask))


def test_frame_layout_and_round_trip():
    proc = make_proc()
    cpu, mem = proc.cpu, proc.mem
    before = {name: getattr(cpu, name) for name in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
                                                     "r8", "r11", "r15", "rip")}
    proc.emu.rflags = 0x8C5 | 0x400                       # CF PF ZF SF OF and DF
    install(proc, 10, mask=sigbit(12))
    assert sys_signal.sys_tkill(proc, 4321, 10) == 0
    assert proc.signals.deliver_pending(proc) is None
    frame = cpu.rsp
    assert (frame + 8) % 16 == 0 and frame + FRAME_SIZE <= before["rsp"] - 128
    assert (cpu.rip, cpu.rdi, cpu.rsi, cpu.rdx, cpu.rax) == (HANDLER, 10, frame + INFO_OFFSET, frame + UC_OFFSET, 0)
    assert proc.emu.rflags & 0x400 == 0 and cpu.xmm[3] == 0 and cpu.mxcsr == 0x1F80
    assert proc.signals.blocked == sigbit(10) | sigbit(12)
    assert struct.unpack_from("<Q", mem.peek(frame, 8))[0] == RESTORER
    sc = mem.peek(frame + UC_OFFSET + SIGCONTEXT_OFFSET, 256)
    regs = struct.unpack_from("<17Q", sc)
    assert regs[0] == before["r8"] and regs[13] == before["rax"] and regs[15:] == (before["rsp"], RESUME)
    assert struct.unpack_from("<Q", mem.peek(frame + UC_OFFSET + SIGMASK_OFFSET, 8))[0] == 0
    assert struct.unpack_from("<iii4xiI", mem.peek(frame + INFO_OFFSET, 24))[:4] == (10, 0, -6, 4321)
    # The handler returns to the restorer (ret pops pretcode), which calls rt_sigreturn.
    cpu.rsp += 8
    cpu.rcx = cpu.r11 = 0
    assert sys_signal.sys_rt_sigreturn(proc) == before["rax"]
    assert {name: getattr(cpu, name) for name in before} == before
    assert proc.emu.rflags & 0xCD5 == 0x8C5 | 0x400
    assert cpu.xmm[3] == 0xDEADBEEF and cpu.mxcsr == 0x3F80 and proc.signals.blocked == 0


def test_syscall_path_keeps_rcx_r11_restored_by_sigreturn():
    """The syscall layer sets rcx/r11 after every call; deliver_pending puts back the restored ones."""
    proc = make_proc()
    cpu = proc.cpu
    rcx, r11 = cpu.rcx, cpu.r11
    install(proc, 10)
    sys_signal.sys_kill(proc, 4321, 10)
    proc.signals.deliver_pending(proc)
    cpu.rsp += 8
    cpu.rax = sys_signal.sys_rt_sigreturn(proc)
    cpu.rcx, cpu.r11 = cpu.rip, proc.emu.rflags          # what `syscall` leaves behind
    proc.signals.deliver_pending(proc)
    assert (cpu.rcx, cpu.r11) == (rcx, r11)


def test_no_restorer_or_no_stack_is_a_sigsegv():
    proc = make_proc()
    install(proc, 10, flags=SA_SIGINFO)                   # x86-64 needs SA_RESTORER
    sys_signal.sys_kill(proc, 4321, 10)
    stop = proc.signals.deliver_pending(proc)
    assert (stop.reason, stop.status) == ("signal", 139)
    assert "cannot write the signal frame for SIGUSR1" in proc.signals.report
    proc = make_proc()
    install(proc, 11)
    proc.cpu.rsp = 0x100
    stop = proc.signals.deliver_fault(proc, GuestFault(14, 0, False, RESUME))
    assert stop.reason == "fault" and stop.fault.addr == 0


def test_bad_pointers_and_sizes():
    proc = make_proc()
    mem_top = STACK_TOP - 16
    assert sys_signal.sys_rt_sigaction(proc, 10, 0, mem_top, 7) == -22
    with pytest.raises(GuestFault):                     # the dispatcher's -EFAULT
        sys_signal.sys_rt_sigaction(proc, 10, 0x10, 0, 8)
    assert sys_signal.sys_rt_sigaction(proc, 9, mem_top - 32, 0, 8) == -22
    assert sys_signal.sys_rt_sigprocmask(proc, 9, 0, mem_top, 8) == 0
    assert sys_signal.sys_kill(proc, 1234567, 0) == -3
    assert sys_signal.sys_sigaltstack(proc, 0, mem_top - 24) == 0
    assert struct.unpack("<QI4xQ", proc.mem.peek(mem_top - 24, 24)) == (0, 2, 0)


def test_a_wait_nothing_can_end_is_a_deadlock():
    """Natively these hang forever: no other process or timer can send the signal."""
    proc = make_proc()
    install(proc, 10)
    with pytest.raises(ProcessKilled) as killed:
        sys_signal.sys_pause(proc)
    assert "deadlocked: pause" in killed.value.message
    proc.mem.write(STACK_TOP - 8, struct.pack("<Q", sigbit(10)))
    sys_signal.sys_kill(proc, 4321, 10)
    with pytest.raises(ProcessKilled) as killed:
        sys_signal.sys_rt_sigsuspend(proc, STACK_TOP - 8, 8)          # USR1 stays blocked
    assert "deadlocked: sigsuspend" in killed.value.message
    assert proc.signals.blocked == 0 and proc.signals.saved_mask is None
