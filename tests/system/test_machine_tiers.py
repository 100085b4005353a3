"""Tier 0 on the pc machine: kernels that take faults through the IDT and timer interrupts
behave the same whether each block is compiled at once (--jit-after 1) or interpreted for
its first runs: console output, exit status and instructions retired (interrupts land at
the same instruction counts). The expected output is the kernels' own checks."""
import re

import pytest

from test_kernels import OK_STATUS, insns_retired, kernels, run_pc  # noqa: F401 (kernels: a fixture)


def interpreted_blocks(proc) -> int:
    found = re.search(r"^\s*blocks_tier_interp\s+(\d+)\s*$", proc.stderr.decode(errors="replace"), re.M)
    return int(found[1]) if found else 0


def without_clock(out: bytes) -> bytes:
    """The console output without the RTC's wall-clock reading (two runs may straddle a second)."""
    return re.sub(rb"^rtc: .*$", b"rtc: (time)", out, flags=re.M)


@pytest.mark.parametrize("name", ("exceptions", "timer"))
def test_kernel_same_with_and_without_tier0(kernels, name):
    at_once, tiered = (run_pc(kernels / f"{name}.elf", "jit", "--no-cache", "--jit-after", n) for n in ("1", "3"))
    for proc in (at_once, tiered):
        assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
        assert proc.returncode == OK_STATUS and b"FAIL" not in proc.stdout, proc.stdout.decode()
    assert without_clock(tiered.stdout) == without_clock(at_once.stdout)
    assert insns_retired(tiered) == insns_retired(at_once)
    assert interpreted_blocks(at_once) == 0 and interpreted_blocks(tiered) > 0
