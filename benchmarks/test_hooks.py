"""API hooks on cold code and data must not slow a hot loop (dbt/runtime/hooks.py).

The same jit hot loop as test_engine.py runs with no hook, a block hook on a cold
address (code that runs once, after the loop), a memory hook on a data page the
loop never touches, and a syscall hook; compare the medians (`extra_info` holds
guest instructions per second). Run:
python -m pytest benchmarks/test_hooks.py --benchmark-only --benchmark-columns=median,rounds
"""
import pytest

from test_engine import CODE, DATA, HOT_LOOP, INSNS_PER_ITER, assemble, loaded, run_once

ITERATIONS = 2_000_000
COLD = HOT_LOOP + "\n    nop\n    nop\n"           # the two nops after the loop run once


def add_hook(emu, kind: str, code: bytes, calls: list) -> None:
    if kind == "cold_block":
        emu.hook_block(lambda emu, pc, size: calls.append(pc), CODE + len(code) - 2)
    elif kind == "cold_memory":
        emu.hook_mem(lambda *event: calls.append(event), DATA + 0x4000, DATA + 0x4008, "rw")
    elif kind == "syscall":
        emu.hook_syscall(lambda emu, call: calls.append(call))


@pytest.mark.parametrize("kind", ["none", "cold_block", "cold_memory", "syscall"])
def test_hot_loop_with_a_cold_hook(benchmark, kind):
    code = assemble(COLD.format(n=ITERATIONS))
    emu = loaded("jit", code)
    calls: list = []
    add_hook(emu, kind, code, calls)
    run_once(emu, code)                     # translate and compile outside the timing
    insns = benchmark(run_once, emu, code)
    assert insns == 3 + INSNS_PER_ITER * ITERATIONS
    benchmark.extra_info["guest_insns_per_second"] = insns / benchmark.stats.stats.median
    benchmark.extra_info["hook_calls"] = len(calls)
