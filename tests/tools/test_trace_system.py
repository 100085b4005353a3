"""-d int on the pc machine: each event delivered through the IDT, against what the
example kernels (examples/kernels) observe in their own handlers."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "system"))
from machinekit import REPO, build_example_kernels  # noqa: E402

NAMES = {0: "#DE", 3: "#BP", 6: "#UD", 11: "#NP", 13: "#GP", 14: "#PF"}
# exceptions.c reports each case as `NAME: vector=V error=E rip=expected cr2=C OK`
REPORT = re.compile(r"vector=(\d+) error=(0x[0-9a-f]+) rip=expected cr2=(0x[0-9a-f]+) OK$")


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    return build_example_kernels(tmp_path_factory.mktemp("kernels"))


def run_pc(kernel: Path, engine: str, log: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dbt", "run", "--machine", "pc", "--engine", engine,
                           "-d", "int", "-D", str(log), str(kernel)], capture_output=True, text=True,
                          timeout=300, cwd=REPO)


@pytest.mark.parametrize("engine", ("jit", "interp"))
def test_int_lists_the_exceptions_the_kernel_handles(kernels, tmp_path, engine):
    log = tmp_path / "int.log"
    run = run_pc(kernels / "exceptions.elf", engine, log)
    seen = [m.groups() for m in map(REPORT.search, run.stdout.splitlines()) if m]
    assert len(seen) == 9, run.stdout
    lines = log.read_text().splitlines()
    pcs = [re.search(r"pc=(0x[0-9a-f]+)", line)[1] for line in lines]
    # int 0x41 through a gate not present: its delivery faults at the same pc, #NP is delivered
    events = [line for i, line in enumerate(lines) if i + 1 == len(lines) or pcs[i + 1] != pcs[i]]
    assert len(events) == len(seen)
    for line, (vector, error, cr2) in zip(events, seen):
        v = int(vector)
        assert line.startswith(f"int: v={v:#04x} ({NAMES.get(v, 'int n')}) pc=0x"), line
        if v in (11, 13, 14):                      # the exceptions that push an error code
            assert f" e={int(error, 16):#06x}" in line
        if v == 14:
            assert line.endswith(f" cr2={cr2}")


def test_int_lists_each_timer_interrupt(kernels, tmp_path):
    log = tmp_path / "int.log"
    run = run_pc(kernels / "timer.elf", "jit", log)
    ticks = int(re.search(r"ticks=(\d+) OK", run.stdout)[1])
    lines = log.read_text().splitlines()
    assert len(lines) == ticks and all(re.fullmatch(r"int: v=0x20 \(external\) pc=0x[0-9a-f]+", x) for x in lines)
