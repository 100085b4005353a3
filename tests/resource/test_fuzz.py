"""Fuzzing the engines: random code, registers and memory under the JIT and the interpreter.

The campaign (fuzz.py) runs each case in a worker subprocess under both
engines: it must end as a stop, budget, guest fault or syscall exit, with
both engines agreeing on every register, flag and byte. DBT_FUZZ_CASES sets
the number of cases (default 2000 here, about a minute). A few cases also go
through `dbt run` as tiny ELF programs: one clear line, a signal status,
the same result under both engines, never a traceback; and programs of
random syscalls run confined to a --root directory.
"""
import os
import re
import subprocess
import sys

import pytest

import fuzz
from fuzzgen import CaseMaker
from sysfuzz import syscall_program
from tinyelf import tiny_elf

CASES = int(os.environ.get("DBT_FUZZ_CASES", "2000"))
CLI_CASES = 12
SYSCALL_PROGRAMS = 8
CLI_TIMEOUT = 120
# A guest fault's status is 128 + SIGILL, SIGTRAP, SIGBUS, SIGFPE or SIGSEGV; 124 is a spent budget.
SIGNAL_STATUSES = {132, 133, 135, 136, 139}
BUDGET_STATUS = 124


def test_compare_reports_every_difference():
    """The checker itself can fail: a register, memory, a stop reason and a vector are reported."""
    base = {"stop": "until", "rax": 1, "memory": b"\0\0\0"}
    assert fuzz.compare(base, dict(base)) == []
    problems = fuzz.compare(base | {"stop": "exit"}, base | {"rax": 2, "memory": b"\0\1\0"})
    text = "\n".join(problems)
    assert "jit: stopped with 'exit'" in text and "rax: jit 0x1 interp 0x2" in text
    assert "memory differs first at region offset 0x1" in text
    assert "fault vector 99" in "\n".join(fuzz.compare(base | {"bad_vector": 99}, base | {"bad_vector": 99}))


@pytest.mark.parametrize("selftest, want", [("crash:3", "case 3: host crash (status -11)"),
                                            ("hang:2", "case 2: hang (no result after 2 s)")])
def test_supervisor_reports_crashes_and_hangs(monkeypatch, selftest, want):
    """A worker killed by a signal or stuck in a case is a failure naming the case; the rest run."""
    monkeypatch.setenv("DBT_FUZZ_SELFTEST", selftest)
    monkeypatch.setattr(fuzz, "CASE_TIMEOUT", 2.0)
    stops, failures = fuzz.campaign(6)
    assert len(failures) == 1 and failures[0].startswith(want), failures
    assert sum(stops.values()) == 5


def test_fuzz_both_engines():
    stops, failures = fuzz.campaign(CASES, jobs=2)
    assert not failures, f"{len(failures)} failing cases:\n" + "\n".join(failures[:20])
    assert sum(stops.values()) == CASES
    for reason in ("until", "budget", "fault"):      # the generator reaches every kind of end
        assert stops.get(reason, 0) > CASES // 100, stops


def run_cli(prog, engine):
    cmd = [sys.executable, "-m", "dbt", "run", "--engine", engine, "--max-insns", "5000", str(prog)]
    return subprocess.run(cmd, capture_output=True, timeout=CLI_TIMEOUT, cwd=prog.parent,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("number", range(0, 3 * CLI_CASES, 3))
def test_fuzz_through_cli(tmp_path, number):
    """Random bytes as a whole program: the engines agree, and a fault or budget is one line."""
    case = CaseMaker().make(number)
    prog = tmp_path / "prog"
    prog.write_bytes(tiny_elf(case.code + case.fill[:64]))
    prog.chmod(0o755)
    results = [run_cli(prog, engine) for engine in ("jit", "interp")]
    for got in results:
        err = got.stderr.decode(errors="replace")
        assert "Traceback" not in err and "internal error" not in err, case.describe() + "\n" + err
        if got.returncode in SIGNAL_STATUSES | {BUDGET_STATUS}:
            assert re.fullmatch(r"dbt: [^\n]+\n", err), case.describe() + "\n" + err
    jit, interp = results
    assert (jit.returncode, jit.stdout, jit.stderr) == (interp.returncode, interp.stdout, interp.stderr), \
        case.describe()


@pytest.mark.parametrize("number", range(SYSCALL_PROGRAMS))
def test_random_syscalls(tmp_path, number):
    """40 random syscalls with hostile arguments (sysfuzz.py) under --root: the program runs to its
    exit (or dies of a signal when a call unmapped its own code), never an internal error, and
    nothing appears outside the root."""
    elf, calls = syscall_program(number)
    prog, root = tmp_path / "prog", tmp_path / "root"
    (root / "a").mkdir(parents=True)
    prog.write_bytes(elf)
    prog.chmod(0o755)
    engine = ("jit", "interp")[number % 2]
    got = subprocess.run([sys.executable, "-m", "dbt", "run", "--engine", engine, "--root", str(root),
                          "--max-insns", "100000", str(prog)], capture_output=True, cwd=root,
                         timeout=CLI_TIMEOUT, stdin=subprocess.DEVNULL)
    err = got.stderr.decode(errors="replace")
    what = f"case {number}: calls {[tuple(hex(v) for v in call) for call in calls]}\n{err}"
    assert "Traceback" not in err and "internal error" not in err, what
    assert got.returncode == 0 or got.returncode in SIGNAL_STATUSES and err.count("\n") == 1, what
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prog", "root"], what
