"""Each example of examples/api is run and its output checked against facts found
without dbt: the guest's native output, strace of its native run, the host CPU."""
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "api"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))      # the host-CPU oracle
from oracle.native import DATA_SIZE, run_native  # noqa: E402
from oracle.undefined_flags import STATUS_FLAGS  # noqa: E402

N = "12"


def example(name: str, *args) -> subprocess.CompletedProcess:
    run = subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)], capture_output=True,
                         text=True, cwd=REPO, timeout=600)
    assert run.returncode == 0, run.stderr
    return run


def facts(stdout: str) -> dict[str, str]:
    """`name value` lines of an example's own output."""
    return dict(line.split(" ", 1) for line in stdout.splitlines() if re.match(r"^[a-z_0-9]+ \S", line))


@pytest.fixture(scope="module")
def guest(tmp_path_factory):
    out = tmp_path_factory.mktemp("api") / "guest"
    subprocess.run(["gcc", "-O0", "-static", "-no-pie", "-o", str(out), str(EXAMPLES / "guest.c")], check=True)
    return out


@pytest.fixture(scope="module")
def native(guest):
    run = subprocess.run([str(guest), N], capture_output=True, text=True, check=True)
    return run.stdout, run.stderr


def test_count_syscalls_matches_strace(guest, tmp_path):
    log = tmp_path / "strace"
    subprocess.run(["strace", "-qq", "-o", str(log), str(guest), N], capture_output=True, check=True)
    calls = Counter(m[1] for m in map(re.compile(r"^(\w+)\(").match, log.read_text().splitlines()) if m)
    del calls["execve"]                      # strace sees the exec; dbt loads the program itself
    counted = facts(example("count_syscalls.py", guest, N).stdout)
    assert counted.pop("exit") == "0"
    assert {name: int(n) for name, n in counted.items()} == dict(calls)


def test_trace_function_counts_the_calls(guest, native):
    calls = re.search(r"fib_calls=(\d+)", native[0])[1]
    run = example("trace_function.py", guest, "fib", N)
    assert run.stdout.startswith(native[0])
    got = facts(run.stdout)
    assert got["entries"] == calls and int(got["blocks"]) >= 2     # fib branches: 2 blocks at least


def test_hook_memory_sees_every_store(guest, native):
    total = re.search(r"total=(\d+)", native[0])[1]
    got = facts(example("hook_memory.py", guest, "total", N).stdout)
    assert got == {"stores": N, "last": total}      # one `total +=` per iteration


def test_patch_syscall_changes_only_what_it_patches(guest, native):
    run = example("patch_syscall.py", guest, N)
    assert native[1] == "done\n" and run.stderr == ""
    assert run.stdout == re.sub(r"uid=\d+", "uid=4242", native[0])


def test_shellcode_registers_match_the_host_cpu():
    got = facts(example("shellcode.py", 1000).stdout)
    code = bytes.fromhex(got["code"])
    assert code.endswith(b"\xc3")
    host = run_native(code[:-1], {"rdi": 1000}, 0x2, bytes(DATA_SIZE))     # falls off the end
    assert int(got["rax"]) == host.regs["rax"] == 1000 * 1001 // 2
    assert int(got["rbx"]) == host.regs["rbx"]
    assert int(got["rflags"], 16) & STATUS_FLAGS == host.rflags & STATUS_FLAGS
