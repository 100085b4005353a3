"""The gdb stub in system mode (`dbt run --machine pc -g`), driven by the real gdb on the
example kernel `compute` (a sieve of Eratosthenes). No native run exists for a kernel,
so the expectations come from elsewhere: symbol addresses from nm, instruction
addresses from gdb's own disassembler, memory from the sieve's definition."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "system"))
import gdbkit  # noqa: E402
import machinekit  # noqa: E402

SIEVE_N = 1000
WATCHED_INDEX = 9            # the first odd composite: written when i = 3

SESSION = [
    "break kmain", "continue",
    'printf "@@ kmain rip=%#lx cs=%#x\\n", $rip, $cs',
    "x/2i $pc", "stepi",
    'printf "@@ stepi rip=%#lx\\n", $rip',
    f"watch *(unsigned char *)((char *)&composite + {WATCHED_INDEX})",
    "continue",
    "x/2gx &composite",
    "delete", "continue",
]


def symbol(elf: Path, name: str) -> int:
    out = subprocess.run(["nm", str(elf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(rf"^([0-9a-f]+) \w {name}$", out, re.M)[1], 16)


def sieve_when_written(n: int, index: int) -> bytes:
    """The sieve's first 16 bytes at the moment `index` is first marked (compute.c's loop)."""
    composite = bytearray(n)
    for i in range(2, n):
        if composite[i]:
            continue
        for j in range(i * i, n, i):
            composite[j] = 1
            if j == index:
                return bytes(composite[:16])
    raise AssertionError("never written")


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    gdbkit.need_gdb()
    return machinekit.build_example_kernels(tmp_path_factory.mktemp("kernels")) / "compute.elf"


@pytest.mark.parametrize("engine", gdbkit.ENGINES)
def test_gdb_debugs_a_kernel(kernel, engine):
    args = ["--machine", "pc", "--engine", engine, "--append", str(SIEVE_N), str(kernel)]
    text, code, out, err = gdbkit.debug_under_dbt(args, kernel, SESSION)
    lines = gdbkit.transcript(text)
    kmain = symbol(kernel, "kmain")
    assert f"@@ kmain rip={kmain:#x} cs=0x8" in lines, text
    # stepi lands where gdb's disassembler says the next instruction is.
    first, second = re.findall(r"^(?:=>)?\s+(0x[0-9a-f]+) <kmain(?:\+\d+)?>:\s+(\w+)", text, re.M)[:2]
    assert not first[1].startswith(("j", "call", "ret")), f"kmain now starts with a branch: {first}"
    assert f"@@ stepi rip={second[0]}" in lines, text
    # the watchpoint fires on the first write of composite[9], with the sieve as it is then.
    assert "Old value = 0 '\\000'" in lines and "New value = 1 '\\001'" in lines, text
    dump = re.search(r"<composite>:\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)", text)
    assert dump, text
    memory = b"".join(int(word, 16).to_bytes(8, "little") for word in dump.groups())
    assert memory == sieve_when_written(SIEVE_N, WATCHED_INDEX)
    # and the kernel runs on to its own end: its checks pass, status 0.
    assert lines[-1] == "[Inferior 1 exited normally]", text
    assert b"primes below 1000: 168" in out and code == 0, (out, err)
