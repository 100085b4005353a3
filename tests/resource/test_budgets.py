"""Budgets: --max-insns stops after exactly N retired instructions, --timeout after SECONDS
of wall clock wherever the guest is (translated loop, syscalls, a read that never
returns, a long sleep; also --machine pc), --max-memory makes brk/mmap/mremap fail with
ENOMEM as RLIMIT_AS does natively (`ulimit -v`). A stopped run: status 124, one line."""
import os
import pty
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "guest"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "system"))
import budgetkit  # noqa: E402
from budgetkit import ENGINES, run_dbt, shell_status  # noqa: E402
from guestbuild import parse_stats  # noqa: E402
from machinekit import DATA, LINK, PRELUDE  # noqa: E402

BUDGET_STATUS = 124
TIMEOUT_SECONDS = 1.0
STARTUP_ALLOWANCE = 30.0      # python + llvmlite start-up on a loaded 2-core machine


@pytest.fixture(scope="module")
def prog(tmp_path_factory):
    return budgetkit.build("budgets", tmp_path_factory.mktemp("budgets"))


# -- --max-insns ------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["spin", "syscalls"])
@pytest.mark.parametrize("budget", [1, 4_321, 250_007])
def test_max_insns_is_exact(prog, mode, budget):
    """The retired count equals the budget, under both engines, which stop at the same pc with
    the same output, in a tight loop and between the syscalls of a syscall-heavy loop."""
    runs = [run_dbt(prog, [mode], engine, ["--max-insns", str(budget), "--stats"]) for engine in ENGINES]
    for run in runs:
        assert run.status == BUDGET_STATUS, run.err
        assert "Traceback" not in run.err
        assert parse_stats(run.err.encode())["insns_retired"] == budget
    lines = [next(line for line in run.err.splitlines() if line.startswith("dbt: ")) for run in runs]
    assert re.fullmatch(rf"dbt: instruction budget of {budget} spent at pc 0x[0-9a-f]+", lines[0])
    assert lines[0] == lines[1] and runs[0].out == runs[1].out


def test_max_insns_budget_later_than_exit_does_nothing(prog):
    """A budget the guest never reaches leaves the run as it is (the guest's own status)."""
    native = subprocess.run([str(prog), "nothing"], capture_output=True, timeout=60)
    run = run_dbt(prog, ["nothing"], "jit", ["--max-insns", str(10**9)])
    assert (run.status, run.out) == (shell_status(native.returncode), native.stdout)


# -- --timeout ------------------------------------------------------------------------------------
def _stdin_of(kind: str):
    """(stdin for the child, the fds to close after): a pipe or a tty that never delivers."""
    if kind == "pipe":
        r, w = os.pipe()
        return r, (r, w)
    if kind == "tty":
        controller, terminal = pty.openpty()
        return terminal, (controller, terminal)
    return subprocess.DEVNULL, ()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode, stdin", [("spin", None), ("syscalls", None), ("read", "pipe"),
                                         ("read", "tty"), ("sleep", None)])
def test_timeout_stops_the_guest(prog, engine, mode, stdin):
    """Wall clock, wherever the guest is: translated loop, syscalls, blocked read, nanosleep."""
    child_stdin, to_close = _stdin_of(stdin)
    try:
        run = run_dbt(prog, [mode], engine, ["--timeout", str(TIMEOUT_SECONDS)], stdin=child_stdin)
    finally:
        for fd in to_close:
            os.close(fd)
    assert run.status == BUDGET_STATUS, run.err
    assert re.fullmatch(r"dbt: time limit of 1 s spent at pc 0x[0-9a-f]+", run.one_line())
    assert run.out == b"ready\n"                   # what the guest wrote is kept
    assert TIMEOUT_SECONDS <= run.seconds < TIMEOUT_SECONDS + STARTUP_ALLOWANCE


def test_timeout_not_reached_changes_nothing(prog):
    native = subprocess.run([str(prog), "nothing"], capture_output=True, timeout=60)
    run = run_dbt(prog, ["nothing"], "jit", ["--timeout", "600"])
    assert (run.status, run.out, run.err) == (shell_status(native.returncode), native.stdout, "")


@pytest.mark.parametrize("engine", ENGINES)
def test_timeout_machine_pc(tmp_path, engine):
    """--machine pc: a kernel spinning with interrupts off stops at the time limit; its
    console output (port 0xE9, unbuffered) is kept."""
    src = tmp_path / "spin.S"
    src.write_text(PRELUDE + "\nmain:\n    mov dil, 'z'\n    call putc\n    cli\nspin: jmp spin\n" + DATA)
    kernel = tmp_path / "spin.elf"
    subprocess.run(["gcc", *LINK, "-o", str(kernel), str(src)], check=True, capture_output=True)
    run = run_dbt(kernel, (), engine, ["--machine", "pc", "--timeout", str(TIMEOUT_SECONDS)])
    assert run.status == BUDGET_STATUS, run.err
    assert re.fullmatch(r"dbt: time limit of 1 s spent at rip 0x[0-9a-f]+", run.one_line())
    assert run.out == b"z"
    assert TIMEOUT_SECONDS <= run.seconds < TIMEOUT_SECONDS + STARTUP_ALLOWANCE


def test_max_memory_is_not_for_the_machine(prog):
    """-m sizes the pc's RAM; --max-memory there is a usage error, not silently ignored."""
    run = run_dbt(prog, (), "jit", ["--machine", "pc", "--max-memory", "64M"])
    assert run.status == 2 and "-m" in run.one_line() and run.out == b""


# -- --max-memory -------------------------------------------------------------------------------
def _native_under_rlimit_as(prog, limit: int):
    def limit_as():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return subprocess.run([str(prog), "malloc"], capture_output=True, timeout=60, preexec_fn=limit_as)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("limit_text, limit", [("32M", 32 << 20), ("40000K", 40000 << 10)])
def test_max_memory_as_rlimit_as(prog, engine, limit_text, limit):
    """malloc until NULL, then recover; mmap/brk/mremap beyond the limit give ENOMEM;
    getrlimit(RLIMIT_AS) reports the limit: the same output as natively under that RLIMIT_AS."""
    native = _native_under_rlimit_as(prog, limit)
    assert native.returncode == 0, native.stderr
    run = run_dbt(prog, ["malloc"], engine, ["--max-memory", limit_text])
    assert (run.status, run.err) == (0, "")
    assert run.out.decode() == native.stdout.decode()
    assert b"NULL after a quarter of the limit or more" in run.out   # the limit is not tiny for it


def test_max_memory_smaller_than_the_image(prog):
    run = run_dbt(prog, ["malloc"], "jit", ["--max-memory", "1M"])
    assert run.status == 126 and "memory limit" in run.one_line() and run.out == b""


@pytest.mark.parametrize("option, value", [("--timeout", "0"), ("--timeout", "soon"),
                                           ("--max-memory", "12Q"), ("--max-insns", "-5")])
def test_bad_budget_options(prog, option, value):
    run = run_dbt(prog, ["spin"], "jit", [option, value])
    assert run.status == 2 and value in run.err and "Traceback" not in run.err and run.out == b""


def test_max_insns_exact_at_every_step_of_a_syscall_loop(prog, capfd):
    """In-process, budgets N .. N+9 cover every instruction of the getppid() loop,
    the syscall itself included: each run stops with exactly N retired, and both engines
    stop at the same pc."""
    from dbt.runtime.linux.process import LinuxProcess
    start, span = 6_000, 10          # the loop is 9 instructions: call, mov, syscall, ret (x2), jmp
    stops = {}
    for engine in ENGINES:
        for n in range(start, start + span):
            proc = LinuxProcess(str(prog), [str(prog), "syscalls"], env={}, engine=engine)
            result = proc.run(max_insns=n)
            assert result.status == BUDGET_STATUS and proc.cpu.icount == n, result.message
            stops.setdefault(n, set()).add(proc.cpu.rip)
            if engine == "jit" and proc.mem.peek(proc.cpu.rip - 2, 2) == b"\x0f\x05":
                stops["after a syscall"] = n
    assert all(len(pcs) == 1 for key, pcs in stops.items() if key != "after a syscall"), stops
    assert "after a syscall" in stops               # the sweep did cross the syscall
    assert len({next(iter(pcs)) for key, pcs in stops.items() if key != "after a syscall"}) > 4
