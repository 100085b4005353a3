"""Tier 0 (dbt/runtime/tiers.py) against the host CPU and against compiling every block at once.

Loops run with `jit_after` N > 1, so their blocks are interpreted for N - 1
runs and compiled on the N-th, in the middle of the loop: the result must be
the host CPU's, and everything the guest can see (icount included) must be
the same as with N = 1 and under the interpreter, at budget stops on either
side of the promotion, at stores into the loop's own code before and after
it, and with a block hook on a block that is promoted.
"""
import pytest

from .harness import complete_regs, default_data, default_regs
from .native import CODE_ADDR, GPRS, assemble, run_native
from .test_regions import HOT_LOOPS, _emulator, _visible

# (engine, regions, jit_after): the first compiles every block at once
CONFIGS = (("jit", "off", 1), ("jit", "off", 4), ("jit", "always", 3), ("interp", "off", 1))


def _run(code: bytes, engine: str, regions: str, jit_after: int, chunks=(None,), hooked=None):
    """Visible states after each budget chunk (None: to the end), hook calls, and the stats."""
    emu = _emulator(engine, regions, code, jit_after=jit_after, code_cache=False)   # no block loaded compiled
    calls = []
    if hooked is not None:
        emu.hook_block(lambda e, pc, size: calls.append((pc, e.cpu.icount)), hooked)
    states = []
    for i, chunk in enumerate(chunks):
        stop = emu.run(start=CODE_ADDR if i == 0 else None, until=CODE_ADDR + len(code), max_insns=chunk)
        states.append(_visible(emu, stop))
    return states, calls, emu.stats


def _assert_all_agree(code: bytes, **options) -> list:
    """Every config gives the same states and hook calls; returns the reference's states.
    Tier 0 must have been used: blocks both interpreted and promoted."""
    reference = _run(code, *CONFIGS[0], **options)[:2]
    for config in CONFIGS[1:]:
        states, calls, stats = _run(code, *config, **options)
        assert (states, calls) == reference, f"{config} differs from {CONFIGS[0]}"
        if config[0] == "jit" and config[2] > 1:
            assert stats.times["interp"] > 0 and stats.counters["blocks_tier_block"] > 0, config
    return reference[0]


def _assert_host(code: bytes, state: tuple) -> None:
    native = run_native(code, complete_regs(default_regs()), 0x2, default_data())
    assert state[0] == "until"
    assert dict(zip(GPRS, state[5])) == native.regs
    assert state[6] == native.data


@pytest.mark.parametrize("name", sorted(HOT_LOOPS))
def test_block_promoted_mid_loop(name):
    code = assemble(HOT_LOOPS[name])
    (state,) = _assert_all_agree(code)
    _assert_host(code, state)


@pytest.mark.parametrize("name", ("nested_store_cmov", "call_ret_in_loop"))
def test_budget_stops_across_promotion(name):
    """Budgets that stop in the first runs of the loop (tier 0), at and after the promotion."""
    states = _assert_all_agree(assemble(HOT_LOOPS[name]), chunks=(1, 2, 3, 5, 7, 50, 333, None))
    assert [s[0] for s in states] == ["budget"] * 7 + ["until"]
    assert [s[2] for s in states[:7]] == [1, 3, 6, 11, 18, 68, 401]


@pytest.mark.parametrize("iteration", (1, 2, 3, 60))
def test_store_into_own_code_across_promotion(iteration):
    """The loop patches its own `add eax, 1` to `add eax, 9` in one iteration: while its block
    is interpreted (1-3) or compiled (60); the rest of the 120 iterations add 9."""
    code = assemble(f"""
        mov rcx, 120; xor eax, eax
      top: add eax, 1
        cmp rcx, {121 - iteration}; jne skip
        mov byte ptr [{CODE_ADDR + 11}], 9
      skip: dec rcx; jnz top""")
    (state,) = _assert_all_agree(code)
    assert state[5][GPRS.index("rax")] == iteration + (120 - iteration) * 9
    _assert_host(code, state)


def test_hook_on_a_block_that_is_promoted():
    """A hooked block is a stop block (never tier 0), its neighbours are interpreted then compiled."""
    code = assemble(HOT_LOOPS["call_ret_in_loop"])
    fn = CODE_ADDR + code.index(bytes.fromhex("488d0448"))       # lea rax, [rax + rcx * 2]
    _assert_all_agree(code, hooked=fn, chunks=(100, None))



def test_hook_that_removes_itself():
    """A block hook removes itself on its first call: the block it stopped is no longer a stop
    block (under tier 0 it is not compiled yet) and runs as any other; the loop ends as on the host."""
    code = assemble(HOT_LOOPS["call_ret_in_loop"])
    fn = CODE_ADDR + code.index(bytes.fromhex("488d0448"))       # lea rax, [rax + rcx * 2]
    states = []
    for config in CONFIGS:
        emu = _emulator(*config[:2], code, jit_after=config[2], code_cache=False)
        hooks = []
        hooks.append(emu.hook_block(lambda e, pc, size: e.remove_hook(hooks[0]), fn))
        stop = emu.run(start=CODE_ADDR, until=CODE_ADDR + len(code))
        states.append(_visible(emu, stop))
    assert states == [states[0]] * len(CONFIGS)
    _assert_host(code, states[0])


def test_blocks_halfway_to_promotion_are_compiled_with_it():
    """Without a code cache, the tier-0 blocks that have run jit_after // 2 times are compiled
    in one module with the block being promoted: fewer modules than compiled blocks, and the
    host's result."""
    code = assemble(HOT_LOOPS["diamonds"])
    emu = _emulator("jit", "off", code, jit_after=4, code_cache=False)
    stop = emu.run(start=CODE_ADDR, until=CODE_ADDR + len(code))
    compiled = emu.stats.counters["blocks_tier_block"]
    assert compiled >= 4 and emu.engine.compiler(0).compiled < compiled
    _assert_host(code, _visible(emu, stop))


def test_blocks_sharing_a_float_helper_compile_in_one_module():
    """Two blocks whose float ops define the same internal helper (lower_float*.py) are
    batched into one LLVM module: the helper is defined once (twice was an LLVM error)."""
    code = assemble("addsd xmm0, xmm1; jmp next; next: addsd xmm2, xmm3; nop")
    emu = _emulator("jit", "off", code)
    first = emu.tbs.lift(CODE_ADDR)
    blocks = [first, emu.tbs.lift(first.terminator.attrs["target"])]
    codes = emu.engine.compile_many(blocks)
    assert len(codes) == 2 and codes[0].fn != codes[1].fn
