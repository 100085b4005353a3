"""-d exec, int and unimp (dbt/runtime/trace.py), checked against facts from native runs,
the symbol table (nm) and the -d in_asm listing, under both engines."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dbt.runtime.linux.syscalls import SYSCALLS
from dbt.runtime.linux.sysnames import NUMBERS

REPO = Path(__file__).resolve().parents[2]
SRC = Path(__file__).resolve().parent / "src"
ENGINES = ("jit", "interp")
EXEC_LINE = re.compile(r"Trace 0: \[([0-9a-f]{16})\] size (\d+)$")
IN_ASM_BLOCK = re.compile(r"IN: block (0x[0-9a-f]+) \(\d+ insns\)$")


def build(source: Path, out: Path) -> Path:
    subprocess.run(["gcc", "-O0", "-static", "-no-pie", "-o", str(out), str(source)], check=True)
    return out


def symbol(binary: Path, name: str) -> int:
    for line in subprocess.run(["nm", str(binary)], capture_output=True, text=True, check=True).stdout.splitlines():
        fields = line.split()
        if fields[-1] == name:
            return int(fields[0], 16)
    raise LookupError(name)


def dbt(engine: str, items: str, log: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dbt", "run", "--engine", engine, "-d", items, "-D", str(log),
                           *map(str, args)], capture_output=True, text=True, cwd=REPO, timeout=600)


@pytest.fixture(scope="module")
def bins(tmp_path_factory):
    out = tmp_path_factory.mktemp("trace")
    return {"guest": build(REPO / "examples" / "api" / "guest.c", out / "guest"),
            "trace_guest": build(SRC / "trace_guest.c", out / "trace_guest")}


def test_exec_lists_each_block_run(bins, tmp_path):
    """Every block run is listed: the blocks are those -d in_asm translated, fib's entry block
    runs once per call (the count the program prints natively), and both engines agree.
    Without exec no block is listed and the in_asm listing is the same."""
    guest = bins["guest"]
    native = subprocess.run([str(guest), "6"], capture_output=True, text=True, check=True).stdout
    calls = int(re.search(r"fib_calls=(\d+)", native)[1])
    traces = {}
    for engine in ENGINES:
        log = tmp_path / f"{engine}.log"
        run = dbt(engine, "in_asm,exec", log, guest, 6)
        assert (run.returncode, run.stdout) == (0, native), run.stderr
        lines = log.read_text().splitlines()
        executed = [(int(m[1], 16), int(m[2])) for m in map(EXEC_LINE.match, lines) if m]
        translated = {int(m[1], 16) for m in map(IN_ASM_BLOCK.match, lines) if m}
        assert {pc for pc, _ in executed} == translated
        fib = symbol(guest, "fib")
        assert sum(pc == fib for pc, _ in executed) == calls
        traces[engine] = executed
        listing = [line for line in lines if not EXEC_LINE.match(line)]
    assert traces["jit"] == traces["interp"]
    log = tmp_path / "in_asm.log"
    assert dbt("interp", "in_asm", log, guest, 6).returncode == 0
    assert log.read_text().splitlines() == listing


@pytest.mark.parametrize("engine", ENGINES)
def test_int_reports_the_fault_and_the_signal(bins, tmp_path, engine):
    """The page fault and the SIGSEGV delivered to the handler: the address and rip the
    handler sees natively, the handler's symbol."""
    guest = bins["trace_guest"]
    native = subprocess.run([str(guest), "segv"], capture_output=True, text=True)
    assert native.returncode == 42
    addr, rip = re.search(r"addr=(0x[0-9a-f]+) rip=(0x[0-9a-f]+)", native.stdout).groups()
    log = tmp_path / "int.log"
    run = dbt(engine, "int", log, guest, "segv")
    assert (run.returncode, run.stdout) == (42, native.stdout), run.stderr
    lines = log.read_text().splitlines()
    assert lines == [f"int: v=0x0e (#PF) pc={rip} addr={addr} read",
                     f"int: signal 11 (SIGSEGV) pc={rip} handler={symbol(guest, 'on_segv'):#x}"]


def test_unimp_names_the_instruction_at_its_address(bins, tmp_path):
    guest = bins["trace_guest"]
    log = tmp_path / "unimp.log"
    run = dbt("jit", "unimp", log, guest, "insn")
    assert run.returncode == 128 + 4, run.stderr           # SIGILL
    pc = symbol(guest, "unimp_insn")
    assert f"unimp: instruction at pc {pc:#x}: f2 0f 38 f1 c3: crc32 eax, ebx; no lifter for this instruction" \
        in log.read_text().splitlines()


def test_unimp_names_a_syscall_dbt_lacks(bins, tmp_path):
    """A syscall Linux has and dbt does not: the guest sees ENOSYS and -d unimp says so."""
    name = next(n for n in ("acct", "get_mempolicy", "fanotify_init", "add_key") if NUMBERS[n] not in SYSCALLS)
    log = tmp_path / "unimp.log"
    run = dbt("interp", "unimp", log, bins["trace_guest"], "syscall", NUMBERS[name])
    assert (run.returncode, run.stdout) == (0, "result=-1 errno=38\n"), run.stderr
    assert f"unimp: syscall {NUMBERS[name]} ({name}) returned -ENOSYS" in log.read_text().splitlines()


def test_bad_items_and_files_are_one_line_errors(bins, tmp_path):
    bad_item = dbt("jit", "exec,bogus", tmp_path / "log", bins["guest"])
    assert bad_item.returncode == 2 and bad_item.stderr.count("\n") == 1 and "bogus" in bad_item.stderr
    bad_file = dbt("jit", "exec", tmp_path / "missing" / "log", bins["guest"])
    assert bad_file.returncode == 1 and bad_file.stderr.count("\n") == 1 and "-D" in bad_file.stderr
