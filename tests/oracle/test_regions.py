"""Hot regions (dbt/backend/llvm/region.py) against the host CPU and against the first tier.

Hot loops and call/ret loops run natively and under both engines with regions
forced on (DBT_REGIONS=always); then the same code runs under the jit with
regions off and always and under the interpreter, and everything the guest can
see must agree, icount included: at a fault inside a region, at a store into a
region's own page, at budget stops that land inside a region, with blocks
reloaded from the persistent code cache, and at stop points and block hooks
set inside a live region.
"""
from __future__ import annotations

import ctypes
import re
import threading
import time
from pathlib import Path

import pytest

from dbt.api import Emulator
from dbt.backend.llvm.region import entry_checks
from dbt.runtime.regions import command_line_mode, direct_targets
from dbt.runtime.worker import RegionWorker
from dbt.ir.builder import new_block
from dbt.ir.ops import Ty

from .harness import check, default_data, default_regs
from .native import CODE_ADDR, CODE_SIZE, DATA_ADDR, DATA_SIZE, GPRS, assemble

# Loops that stay inside their region for hundreds of iterations.
HOT_LOOPS = {
    "sum_bytes_adc": f"""
        mov rcx, 300; mov rsi, {DATA_ADDR}; xor eax, eax; xor edx, edx
      top: add al, byte ptr [rsi]; adc edx, 0; inc rsi; dec rcx; jnz top""",
    "nested_store_cmov": f"""
        mov r8, 20; mov rdi, {DATA_ADDR + 0x100}
      outer: mov rcx, 16
      inner: mov eax, dword ptr [rdi + rcx * 4]; imul eax, ecx; cmp eax, ebx
        cmovl ebx, eax; setg dl; add dword ptr [rdi + rcx * 4], edx; dec rcx; jnz inner
        add rdi, 4; dec r8; jnz outer""",
    "call_ret_in_loop": """
        mov rcx, 200; xor eax, eax
      top: call fn; sub rcx, 1; jnz top; jmp done
      fn: lea rax, [rax + rcx * 2]; xor rax, 0x55; ret
      done: nop""",
    "indirect_call_in_loop": """
        mov rcx, 200; xor eax, eax; lea rbx, [rip + fn]
      top: call rbx; sub rcx, 1; jnz top; jmp done
      fn: cmp rcx, 100; jb low
        add rax, rcx; ret
      low: lea rax, [rax + rcx * 2]; ret
      done: nop""",
    "jump_table_in_loop": """
        mov rcx, 200; xor eax, eax; lea rsi, [rip + one]; lea rdi, [rip + two]
      top: test cl, 4; mov rbx, rsi; cmovnz rbx, rdi; jmp rbx
      one: add eax, ecx; jmp next
      two: xor eax, ecx
      next: dec rcx; jnz top""",
    "indirect_jump_in_loop": """
        mov rcx, 200; xor eax, eax; lea rbx, [rip + body]
      top: add eax, 3; jmp rbx
      body: xor eax, ecx; dec rcx; jnz top""",
    "recursion": """
        mov edi, 11; call fib; jmp done
      fib: cmp edi, 2; jb small
        push rdi; dec edi; call fib; pop rdi
        push rax; sub edi, 2; call fib; pop rdx; add rax, rdx; ret
      small: mov eax, edi; ret
      done: nop""",
    "flags_across_blocks": f"""
        mov rcx, 300; mov rsi, {DATA_ADDR}; xor edx, edx; xor edi, edi
      top: mov eax, dword ptr [rsi + rcx * 4]; and eax, 7; cmp eax, 3; je same
        jl less
        sbb eax, eax; or eax, 1; add edx, eax; jmp next
      less: setbe bl; adc edx, 5; add dl, bl; jmp next
      same: cmovbe edi, ecx
      next: dec rcx; jnz top""",
    "carry_kept_by_dec_from_two_ways": """
        mov rcx, 300; xor edx, edx
      top: imul eax, ecx, -1640531535; test al, 1; jz even
        cmp eax, 0x40000000; jmp next
      even: add eax, eax; jmp next
      next: dec rcx; adc edx, 0; imul edx, edx, 31; test rcx, rcx; jnz top""",
    "diamonds": """
        mov rcx, 150; xor eax, eax; xor edx, edx
      top: test cl, 1; jz even
        add eax, ecx; jmp join
      even: sub edx, ecx
      join: test cl, 2; jz skip
        imul eax, eax, 3
      skip: add edx, eax; dec rcx; jnz top""",
    "store_into_own_code": f"""
        mov rcx, 120; xor eax, eax
      top: add eax, 1
        cmp rcx, 60; jne skip
        mov byte ptr [{CODE_ADDR + 11}], 9
      skip: dec rcx; jnz top""",
}


@pytest.fixture
def regions_always(monkeypatch):
    monkeypatch.setenv("DBT_REGIONS", "always")


@pytest.mark.parametrize("name", sorted(HOT_LOOPS))
def test_hot_loop_matches_host(regions_always, name):
    check(HOT_LOOPS[name])


def _emulator(engine: str, regions: str, code: bytes, **options) -> Emulator:
    emu = Emulator(engine=engine, regions=regions, **options)
    emu.map(CODE_ADDR, CODE_SIZE, perms="rwx")
    emu.map(DATA_ADDR, DATA_SIZE, perms="rw")
    emu.write(CODE_ADDR, code + b"\xcc" * (CODE_SIZE - len(code)))
    emu.write(DATA_ADDR, default_data())
    for name, value in default_regs().items():
        emu.reg_write(name, value)
    return emu


def _visible(emu: Emulator, stop) -> tuple:
    fault = stop.fault and (stop.fault.vector, stop.fault.addr, stop.fault.pc)
    return (stop.reason, fault, emu.cpu.icount, emu.reg_read("rip"), emu.rflags,
            tuple(emu.reg_read(r) for r in GPRS), emu.read(DATA_ADDR, DATA_SIZE),
            emu.read(CODE_ADDR, 0x100))


CONFIGS = (("jit", "always"), ("jit", "off"), ("interp", "off"))


def _runs(asm: str, chunks: list[int | None]) -> dict:
    """Run `asm` in budget chunks (None: to its end) under each config; visible states per config."""
    code = assemble(asm)
    results = {}
    for engine, regions in CONFIGS:
        emu = _emulator(engine, regions, code)
        states = []
        for i, chunk in enumerate(chunks):
            stop = emu.run(start=CODE_ADDR if i == 0 else None, until=CODE_ADDR + len(code), max_insns=chunk)
            states.append(_visible(emu, stop))
        results[engine, regions] = states, emu.stats.counters["blocks_tier_region"]
    return results


def _assert_same(results: dict) -> None:
    (reference, _), *_ = results.values()
    for config, (states, _) in results.items():
        for i, (got, want) in enumerate(zip(states, reference)):
            assert got == want, f"{config} differs from {CONFIGS[0]} after run {i}: {got[:5]} vs {want[:5]}"
    assert results["jit", "always"][1] > 0, "no region was installed"
    assert results["jit", "off"][1] == 0


def test_fault_inside_region_is_precise():
    """A load walks off the end of the data mapping from inside a hot loop."""
    results = _runs(f"""
        mov rsi, {DATA_ADDR}; xor ebx, ebx
      top: add rbx, qword ptr [rsi]; add rsi, 8; inc rdx; jmp top""", [None])
    (state,), _ = results["interp", "off"]
    assert state[0] == "fault" and state[1][:2] == (14, DATA_ADDR + DATA_SIZE)
    assert state[5][GPRS.index("rsi")] == DATA_ADDR + DATA_SIZE
    _assert_same(results)


@pytest.mark.parametrize("name", ("nested_store_cmov", "store_into_own_code", "call_ret_in_loop", "diamonds"))
def test_budget_stops_inside_region(name):
    """Budgets that end mid-loop (and mid-block, and in the blocks a region does not check on
    entry: region.py entry_checks) stop every config at the same instruction."""
    results = _runs(HOT_LOOPS[name], [50, 333, 1, 7, 13, 2, 3, 5, None])
    states, _ = results["interp", "off"]
    assert [s[0] for s in states[:-1]] == ["budget"] * 8 and states[-1][0] == "until"
    _assert_same(results)


def test_store_into_region_page_drops_region():
    """The loop patches its own `add eax, 1` in its 61st of 120 iterations: the 59 after add 9."""
    results = _runs(HOT_LOOPS["store_into_own_code"], [None])
    (state,), _ = results["interp", "off"]
    assert state[5][GPRS.index("rax")] == 61 + 59 * 9
    _assert_same(results)


def _until(done, step, seconds: float) -> None:
    """Call step() until done() or `seconds` have passed (the worker thread takes its time)."""
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        step()


def _region_in(emu: Emulator) -> bool:
    return emu.stats.counters["blocks_tier_region"] > 0


def test_background_region_matches_first_tier():
    """regions=background compiles on a worker thread and installs while the guest runs: keep an
    endless loop running in budget chunks until the region is in, then compare everything
    with regions off stopped at the same instruction count."""
    code = assemble(f"""
        mov rcx, 0x4000000000000000; mov rsi, {DATA_ADDR}; xor eax, eax
      top: mov edx, ecx; and edx, 0xff; add eax, dword ptr [rsi + rdx * 4]
        xor dword ptr [rsi + rdx * 4], eax; dec rcx; jnz top""")
    background = _emulator("jit", "background", code)
    background.cpu.rip = CODE_ADDR
    _until(lambda: _region_in(background), lambda: background.run(max_insns=200_000), 300)
    assert _region_in(background), "the worker installed no region"
    stop = background.run(max_insns=1_000_003)
    first_tier = _emulator("jit", "off", code)
    same = first_tier.run(start=CODE_ADDR, max_insns=background.cpu.icount)
    assert _visible(first_tier, same) == _visible(background, stop)


def test_background_compiles_a_loop_once_as_on_does():
    """While a loop's region is being compiled, its other blocks get hot too: they are members of
    the queued region, so none heads a region of its own (as with `on`, where the region is in
    already): one region compiled, none discarded."""
    code = assemble(HOT_LOOPS["diamonds"].replace("mov rcx, 150", "mov rcx, 0x4000000000000000"))
    counts = {}
    for regions in ("on", "background"):
        emu = _emulator("jit", regions, code, code_cache=False)     # compiled, not loaded
        emu.cpu.rip = CODE_ADDR
        _until(lambda: _region_in(emu), lambda: emu.run(max_insns=200_000), 300)
        for _ in range(20):                 # time for any other region to come in
            emu.run(max_insns=200_000)
            time.sleep(0.01)
        counts[regions] = emu.stats.counters["regions_compiled"], emu.stats.counters["regions_discarded"]
    assert counts["on"] == counts["background"] == (1, 0)


@pytest.mark.parametrize("regions", ("always", "on"))
def test_a_region_stops_at_another_regions_head(regions):
    """The outer loop's region chains to the inner loop's region instead of compiling its
    blocks again (that doubled strings' and mixed's region compile time): no live region
    holds the head of another one."""
    code = assemble(HOT_LOOPS["nested_store_cmov"].replace("mov r8, 20", "mov r8, 2000"))
    emu = _emulator("jit", regions, code)
    assert emu.run(start=CODE_ADDR, until=CODE_ADDR + len(code)).reason == "until"
    live = [tb for pc, tb in emu.tbs.blocks.items() if tb.members and tb.members[0].pc == pc]
    assert len(live) >= 2
    heads = {tb.pc for tb in live}
    assert not [(tb.pc, m.pc) for tb in live for m in tb.members[1:] if m.pc in heads]


def _the_region_of_a_long_loop(monkeypatch, name: str):
    """HOT_LOOPS[name] run 3,000 rounds with regions on: checked against the host, then run
    again; the one live region it leaves."""
    asm = HOT_LOOPS[name].replace("mov rcx, 300", "mov rcx, 3000")
    monkeypatch.setenv("DBT_REGIONS", "on")
    check(asm)
    code = assemble(asm)
    emu = _emulator("jit", "on", code, code_cache=False)
    assert emu.run(start=CODE_ADDR, until=CODE_ADDR + len(code)).reason == "until"
    (region,) = [tb for pc, tb in emu.tbs.blocks.items() if tb.members and tb.members[0].pc == pc]
    return region


def test_flags_one_block_of_a_region_reads_from_another_are_computed_inline(monkeypatch):
    """In the loop's region, the blocks after `cmp; je` (jl; sbb; setbe and adc) read flags
    the cmp set, the same cc_op on every way in: computed inline, not by @dbt_cc_all; so is
    the carry `dec` keeps, which comes from one of three ways in, each setting its own cc_op:
    its block is lowered once for each. Matches the host."""
    region = _the_region_of_a_long_loop(monkeypatch, "flags_across_blocks")
    assert len(region.members) >= 4 and "call i64 @dbt_cc_all" not in region.code.text


def test_a_block_lowered_once_for_each_cc_op_it_is_entered_with_keeps_each_ways_carry(monkeypatch):
    """`dec` keeps the carry of a `cmp` on one way in and of an `add` on the other, then `adc`
    reads it: the region's block is lowered once for each way's cc_op. Matches the host."""
    region = _the_region_of_a_long_loop(monkeypatch, "carry_kept_by_dec_from_two_ways")
    versions = re.findall(rf"^b_{region.pc:x}_([0-9a-f]+):", region.code.text, re.M)
    assert len(versions) == 2                  # besides the way in from outside (b_..._entry)


def test_a_recursive_function_is_one_region_its_calls_and_rets_stay_in():
    """fib(22) makes 57,313 calls: a region holds the function's blocks and its calls' return
    sites, so a call branches to the function's entry and a ret to its return site, inside
    the region; only the first calls, before the region is in, transfer between translated
    functions (~3,000; with the return sites left out, every ret did: ~90,000)."""
    code = assemble(HOT_LOOPS["recursion"].replace("mov edi, 11", "mov edi, 22"))
    emu = _emulator("jit", "on", code, code_cache=False)
    assert emu.run(start=CODE_ADDR, until=CODE_ADDR + len(code)).reason == "until"
    assert emu.reg_read("rax") == 17_711
    transfers = emu.cpu.chain_count + emu.cpu.jc_hits
    assert emu.stats.counters["blocks_tier_region"] > 0 and transfers < 57_313 // 8, transfers


def test_an_indirect_calls_recorded_target_runs_inside_the_region():
    """The first tier records where a block's indirect call (or jmp) last went; the loop's
    region takes that target in (the called function, its return site), so each iteration
    stays inside the region once it is in: of 40,000 iterations, only the first ~2,000 (the
    threshold's) transfer between translated functions, two a time (without the recorded
    target every iteration does)."""
    code = assemble(HOT_LOOPS["indirect_call_in_loop"].replace("mov rcx, 200", "mov rcx, 40000"))
    emu = _emulator("jit", "on", code, code_cache=False)
    assert emu.run(start=CODE_ADDR, until=CODE_ADDR + len(code)).reason == "until"
    transfers = emu.cpu.chain_count + emu.cpu.jc_hits
    assert emu.stats.counters["blocks_tier_region"] > 0 and transfers < 40_000 // 4, transfers


def test_dbt_run_compiles_regions_in_the_background_only_without_a_code_cache(monkeypatch):
    monkeypatch.delenv("DBT_REGIONS", raising=False)
    assert command_line_mode(None, code_cache=False) == "background"
    assert command_line_mode(None, code_cache=True) == "on"
    assert command_line_mode("off", code_cache=False) == "off"
    monkeypatch.setenv("DBT_REGIONS", "always")
    assert command_line_mode(None, code_cache=False) == command_line_mode(None, code_cache=True) == "always"


def test_a_dropped_background_emulator_keeps_no_thread():
    """A region compiled for an Emulator that runs no more cannot be installed under the gate:
    the worker leaves it and ends, instead of waiting for the gate as long as the program runs."""
    code = assemble(HOT_LOOPS["diamonds"].replace("mov rcx, 150", "mov rcx, 0x4000000000000000"))
    emu = _emulator("jit", "background", code, code_cache=False)
    emu.cpu.rip = CODE_ADDR
    _until(lambda: emu.tbs.worker.thread is not None, lambda: emu.run(max_insns=20_000), 60)
    assert emu.tbs.worker.thread is not None, "no region was queued"
    del emu

    def worker_left() -> bool:
        return not any(t.name == "dbt-regions" for t in threading.enumerate())
    _until(worker_left, lambda: time.sleep(0.05), 30)
    assert worker_left()


def test_a_region_compile_that_raises_raises_on_the_guests_thread():
    """As a compile on the guest's thread would (dbt run then reports an internal error),
    not as a traceback from the worker thread."""
    worker = RegionWorker()
    worker.submit(lambda: 1 // 0, lambda result: None)
    _until(worker.pending, lambda: time.sleep(0.01), 30)
    with pytest.raises(ZeroDivisionError):
        worker.install_ready()
    assert not worker.pending()


def test_the_worker_compiles_the_most_urgent_queued_region_first():
    """While the worker compiles one region, three more are queued; it takes them most urgent
    first (for regions: the entries their heads have counted since they were queued)."""
    worker, started, release, done = RegionWorker(), threading.Event(), threading.Event(), []

    def blocking():
        started.set()
        release.wait(30)
        return "first"
    worker.submit(blocking, done.append)
    assert started.wait(30)
    for name, urgency in (("low", 1), ("high", 3), ("middle", 2)):
        worker.submit(lambda name=name: name, done.append, urgency=lambda urgency=urgency: urgency)
    release.set()
    _until(lambda: len(done) == 4, lambda: (time.sleep(0.01), worker.install_ready()), 30)
    assert done == ["first", "high", "middle", "low"]


def test_a_discarded_region_lets_its_blocks_get_hot_again():
    """A region whose member was dropped while it compiled is discarded; its other members,
    whose HOT exits went into it, count their entries afresh so that they can head one later."""
    code = assemble(HOT_LOOPS["diamonds"])
    emu = _emulator("jit", "on", code)
    emu.run(start=CODE_ADDR, max_insns=100)
    top = emu.tbs.blocks[min(pc for pc in emu.tbs.blocks if pc > CODE_ADDR)]
    hits = ctypes.c_uint64.from_address(top.code.hits)
    assert hits.value > 0
    dropped = emu.tbs.blocks[CODE_ADDR]
    emu.tbs.remove(dropped)
    emu.tbs.install_region((top, dropped), None, 0.0)
    assert emu.stats.counters["regions_discarded"] == 1 and hits.value == 0


def test_a_region_whose_member_became_another_regions_head_is_installed():
    """With background compiles, a member of a region being compiled may head a region of its
    own by the time it is installed: that member is still the same code, so the region is
    installed (not discarded and compiled again), and the loop ends as the interpreter's does."""
    code = assemble(HOT_LOOPS["diamonds"])
    emu = _emulator("jit", "off", code)
    emu.run(start=CODE_ADDR, until=CODE_ADDR + len(code), max_insns=100)
    tbs = emu.tbs
    top = tbs.blocks[min(pc for pc in tbs.blocks if pc > CODE_ADDR)]
    member = tbs.blocks[max(direct_targets(tbs.block_ir(top)))]
    compiled = emu.engine.compile_region([tbs.block_ir(top), tbs.block_ir(member)])     # as the worker would
    tbs.regionize(member.pc)                                        # meanwhile: a region of its own
    assert tbs.heads(tbs.blocks[member.pc], member)
    tbs.install_region((top, member), compiled, 0.0)
    assert emu.stats.counters["regions_discarded"] == 0 and tbs.blocks[top.pc].members == (top, member)
    stop = emu.run(until=CODE_ADDR + len(code))
    reference = _emulator("interp", "off", code)
    assert _visible(emu, stop) == _visible(reference, reference.run(start=CODE_ADDR, until=CODE_ADDR + len(code)))


def test_a_block_in_two_queued_regions_heads_none_until_both_are_in():
    """Two regions being compiled may both hold a block; when one of them is discarded, the
    block is still in the other, so it must not head a region of its own."""
    code = assemble(HOT_LOOPS["diamonds"])
    emu = _emulator("jit", "off", code)
    emu.run(start=CODE_ADDR, until=CODE_ADDR + len(code), max_insns=100)
    tbs = emu.tbs
    first, shared, last = (tbs.blocks[pc] for pc in sorted(tbs.blocks)[-3:])
    tbs.queued.update((first.pc, shared.pc))           # as regionize queues two regions
    tbs.queued.update((shared.pc, last.pc))
    tbs.remove(first)
    tbs.install_region((first, shared), None, 0.0)     # discarded: `first` was dropped
    tbs.regionize(shared.pc)
    assert emu.stats.counters["regions_discarded"] == 1 and shared.pc in tbs.queued
    assert tbs.blocks[shared.pc] is shared              # no region of its own


def _cached_runs(asm: str, cache, runs: int = 2, between=lambda run: None) -> tuple:
    """The interpreter's visible end state of `asm`, then for each of `runs` jit runs with
    regions always and the code cache in `cache` (calling between(i) before run i): its
    visible end state and its counters."""
    code = assemble(asm)
    reference = _emulator("interp", "off", code, code_cache=False)
    reference_stop = reference.run(start=CODE_ADDR, until=CODE_ADDR + len(code))
    results = []
    for i in range(runs):
        between(i)
        emu = _emulator("jit", "always", code, code_cache=str(cache))
        stop = emu.run(start=CODE_ADDR, until=CODE_ADDR + len(code))
        results.append((_visible(emu, stop), emu.stats.counters))
    return _visible(reference, reference_stop), results


def test_blocks_and_regions_from_the_code_cache(tmp_path, monkeypatch):
    """A warm run loads its blocks from the code cache (no IR) and its regions too: the same
    regions' code, and the same results as the compiled ones and the interpreter."""
    monkeypatch.delenv("DBT_CACHE", raising=False)
    reference, [(cold, cold_counts), (warm, warm_counts)] = _cached_runs(HOT_LOOPS["call_ret_in_loop"], tmp_path)
    assert cold == reference and warm == reference
    assert cold_counts["code_cache_hits"] == 0 and warm_counts["code_cache_hits"] > 0
    assert warm_counts["blocks_translated"] < cold_counts["blocks_translated"]
    assert cold_counts["regions_compiled"] == cold_counts["region_cache_misses"] > 0
    assert warm_counts["region_cache_hits"] == cold_counts["regions_compiled"]
    assert warm_counts["regions_compiled"] == warm_counts["region_cache_misses"] == 0
    assert warm_counts["blocks_tier_region"] == cold_counts["blocks_tier_region"]


@pytest.mark.parametrize("damage", ("flip", "truncate"))
def test_corrupt_region_entry_is_ignored_and_rewritten(tmp_path, monkeypatch, damage):
    """A damaged bundle of regions is never run: the regions are compiled again (with results
    the interpreter's) and the next run loads them again."""
    monkeypatch.delenv("DBT_CACHE", raising=False)
    asm = HOT_LOOPS["nested_store_cmov"]
    code = assemble(asm)
    probe = _emulator("jit", "always", code, code_cache=str(tmp_path))
    region_file = Path(probe.codecache.directory) / (
        probe.codecache.region_bundle(probe.codecache.page_of(probe.mem, CODE_ADDR)).hex() + ".tbs")

    def spoil(run):
        if run == 1:
            data = bytearray(region_file.read_bytes())
            if damage == "flip":
                data[len(data) // 2] ^= 0x10
            else:
                del data[len(data) // 2:]
            region_file.write_bytes(bytes(data))

    reference, runs = _cached_runs(asm, tmp_path, runs=3, between=spoil)
    (cold, cold_counts), (damaged, damaged_counts), (repaired, repaired_counts) = runs
    assert cold == damaged == repaired == reference
    assert cold_counts["regions_compiled"] > 0
    assert damaged_counts["region_cache_hits"] == 0
    assert damaged_counts["regions_compiled"] == damaged_counts["region_cache_misses"]
    assert damaged_counts["regions_compiled"] == cold_counts["regions_compiled"]
    assert damaged_counts["code_cache_misses"] == 0                   # the blocks' bundle was intact
    assert repaired_counts["region_cache_hits"] == cold_counts["regions_compiled"]


def test_store_into_code_drops_a_region_loaded_from_the_cache(tmp_path, monkeypatch):
    """The loop that patches its own code, run warm: its region comes from the code cache and the
    store drops it exactly as a compiled one (the 59 iterations after the store add 9)."""
    monkeypatch.delenv("DBT_CACHE", raising=False)
    reference, [(cold, _), (warm, warm_counts)] = _cached_runs(HOT_LOOPS["store_into_own_code"], tmp_path)
    assert reference[5][GPRS.index("rax")] == 61 + 59 * 9
    assert cold == reference and warm == reference
    assert warm_counts["region_cache_hits"] > 0 and warm_counts["blocks_invalidated"] > 0


def _stopped_runs(engine: str, regions: str, code: bytes, hooked: int, until: int) -> tuple:
    """Run the loop until regions exist, then (a) hook the block at `hooked` and run to the end,
    (b) in a second emulator, run to the stop point `until` inside the loop: hook calls and
    visible states, and whether regions existed when the hook and the stop point were set."""
    results, had_regions = [], []
    for phase in ("hook", "stop"):
        emu = _emulator(engine, regions, code)
        warmup = emu.run(start=CODE_ADDR, until=CODE_ADDR + len(code), max_insns=300)
        had_regions.append(any(tb.members for tb in emu.tbs.blocks.values()))
        calls = []
        if phase == "hook":
            emu.hook_block(lambda e, pc, size: calls.append((pc, e.cpu.icount)), hooked)
        stop = emu.run(until=CODE_ADDR + len(code) if phase == "hook" else until)
        results.append((warmup.reason, _visible(emu, stop), calls))
    return results, had_regions


def test_stop_points_and_hooks_are_never_bypassed_by_a_region():
    """A block hook and a stop point set on blocks that a live region holds (not as its head)."""
    code = assemble(HOT_LOOPS["call_ret_in_loop"])
    fn = CODE_ADDR + code.index(bytes.fromhex("488d0448"))       # lea rax, [rax + rcx * 2]
    top = CODE_ADDR + code.index(bytes.fromhex("e8"))            # call fn
    reference, _ = _stopped_runs("interp", "off", code, fn, top)
    # 2 set-up instructions then 6 per iteration: the first 300 run the lea of the 50th call
    (_, _, hook_calls), (_, stopped, _) = reference
    assert len(hook_calls) == 200 - 50 and stopped[0] == "until" and stopped[3] == top
    for regions in ("always", "off"):
        got, had_regions = _stopped_runs("jit", regions, code, fn, top)
        assert got == reference, regions
        assert had_regions == [regions == "always"] * 2


def test_a_region_checks_its_head_and_loop_targets_for_the_longest_way_to_the_next_check():
    """head -> a -> b -> head (a loop) with a -> c -> exit: checks at head only, allowing for
    head, a and the longer of b and c; a self-looping c would be checked itself."""
    def block(pc, ninsns, targets):
        b, builder = new_block(pc)
        b.ninsns = ninsns
        if len(targets) == 2:
            builder.branch(builder.const(Ty.I1, 1), *targets)
        else:
            builder.goto(targets[0])
        return b
    head, a, b, c = block(0x10, 2, [0x20]), block(0x20, 3, [0x30, 0x40]), block(0x30, 4, [0x10]), block(0x40, 6, [0x99])
    nowhere = lambda block: ()                                         # noqa: E731 (no indirect jumps)
    assert entry_checks([head, a, b, c], nowhere) == {0x10: 2 + 3 + 6}
    looping = block(0x40, 6, [0x40, 0x99])
    assert entry_checks([head, a, b, looping], nowhere) == {0x10: 2 + 3 + 4, 0x40: 6}


def test_an_indirect_jump_makes_only_the_blocks_it_may_land_on_before_it_checked():
    """head -> switch (an indirect jump, landing on case1, case2 or back on head) and each
    case -> head: the cases come after the jump, so only head is checked (it allows for the
    longest way round); a jump that may land on a block before it makes that one checked."""
    def block(pc, ninsns, target=None):
        b, builder = new_block(pc)
        b.ninsns = ninsns
        if target is None:
            builder.jump(builder.const(Ty.I64, 0x99))
        else:
            builder.goto(target)
        return b
    head, switch, case1, case2 = block(0x10, 2, 0x20), block(0x20, 3), block(0x30, 4, 0x10), block(0x40, 5, 0x10)
    cases = {0x20: (0x10, 0x30, 0x40)}
    assert entry_checks([head, switch, case1, case2], lambda b: cases.get(b.pc, ())) == {0x10: 2 + 3 + 5}
    cases = {0x20: (0x10, 0x30, 0x40), 0x40: (0x30,)}
    case2 = block(0x40, 5)
    assert entry_checks([head, switch, case1, case2], lambda b: cases.get(b.pc, ())) == {0x10: 2 + 3 + 5, 0x30: 4}
