"""Code-cache benchmark: running a chain of fresh blocks with nothing cached (decode, lift,
compile each) vs with every block in the persistent code cache (hash the page, check the
block's bytes, load its object code); and a hot loop whose region is compiled vs loaded.

Run: python -m pytest benchmarks/test_code_cache.py --benchmark-only --benchmark-columns=median,rounds
`extra_info` holds the seconds per block of each case.
"""
import pytest
from test_engine import CODE, assemble

from dbt.api import Emulator

BLOCKS = 200
CHAIN = "\n".join(f"b{i}:\n add rax, {i}\n imul rbx, rax\n xor rcx, rbx\n jmp b{i + 1}" for i in range(BLOCKS))
CHAIN += f"\nb{BLOCKS}:\n nop"


def fresh_emulator(code: bytes, cache, regions: str | None = None) -> Emulator:
    emu = Emulator("jit", code_cache=cache, regions=regions)
    emu.map(CODE, 0x10000, "rwx")
    emu.write(CODE, code)
    return emu


def run(emu: Emulator, code: bytes) -> None:
    stop = emu.run(CODE, until=CODE + len(code) - 1)
    assert stop.reason == "until", stop


@pytest.mark.parametrize("case", ["compiled", "cached"])
def test_block_from_code_cache(benchmark, tmp_path, monkeypatch, case):
    monkeypatch.delenv("DBT_CACHE", raising=False)
    code = assemble(CHAIN)
    cache = str(tmp_path) if case == "cached" else False
    if case == "cached":
        run(fresh_emulator(code, cache), code)          # fill the cache

    def setup():
        return (fresh_emulator(code, cache),), {}

    def target(emu):
        run(emu, code)
        assert emu.stats.counters["code_cache_hits"] == (BLOCKS if case == "cached" else 0)

    benchmark.pedantic(target, setup=setup, rounds=5)
    benchmark.extra_info["seconds_per_block"] = benchmark.stats.stats.median / BLOCKS


# A hot loop of 17 blocks (16 pieces with a side exit each, never taken): one region of 16.
LOOP = "mov rcx, 2000\ntop:\n" + "\n".join(
    f"add rax, rcx\n imul rbx, rax\n cmp rax, {-1 - i}\n je out\n" for i in range(16)) + "dec rcx\n jnz top\nout:\n nop"


@pytest.mark.parametrize("case", ["compiled", "cached"])
def test_region_from_code_cache(benchmark, tmp_path, monkeypatch, case):
    """Blocks loaded from the code cache in both cases; the region compiled, or loaded too."""
    monkeypatch.delenv("DBT_CACHE", raising=False)
    code = assemble(LOOP)
    cache = str(tmp_path)
    run(fresh_emulator(code, cache, "on"), code)        # fill the cache, the region included

    def setup():
        emu = fresh_emulator(code, cache, "on")
        if case == "compiled":
            regions = emu.codecache.region_bundle(emu.codecache.page_of(emu.mem, CODE))
            (emu.codecache.directory / (regions.hex() + ".tbs")).unlink(missing_ok=True)
        return (emu,), {}

    def target(emu):
        run(emu, code)
        assert emu.stats.counters["code_cache_hits"] > 0
        hits, compiled = emu.stats.counters["region_cache_hits"], emu.stats.counters["regions_compiled"]
        assert (hits > 0, compiled > 0) == (case == "cached", case == "compiled")

    benchmark.pedantic(target, setup=setup, rounds=5)
