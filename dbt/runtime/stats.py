"""Run statistics behind `--stats`: counters and timers, printed as `  name value` lines.

Times split a run into decode (capstone), lift (IR building and passes), compile
(the engine's backend), region_compile (hot regions), cache_load (blocks
and regions reloaded from the persistent code cache) and execute (in translated code, and in the interpreter for tier-0
blocks: interp is that part of execute). Blocks are counted per tier ("block" for the first tier, "region" for
hot regions, "interp" for tier-0 blocks never compiled).
"""
from collections import Counter

TIMES = ("decode", "lift", "compile", "region_compile", "cache_load", "execute", "interp")


class Stats:
    def __init__(self):
        self.counters: Counter = Counter()
        self.times: Counter = Counter()

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def count_tier(self, tier: str, n: int = 1) -> None:
        """Blocks made ready to run in a tier (translated or reloaded from the code cache)."""
        self.counters[f"blocks_tier_{tier}"] += n

    def add_time(self, name: str, seconds: float) -> None:
        self.times[name] += seconds

    def report(self, cpu, engine_name: str) -> str:
        c = self.counters
        exits = {k: v for k, v in sorted(c.items()) if k.startswith("exit_")}
        tiers = {k: v for k, v in sorted(c.items()) if k.startswith("blocks_tier_")}
        rows = [("engine", engine_name),
                ("insns_retired", cpu.icount),
                ("blocks_translated", c["blocks_translated"]),
                *tiers.items(),
                ("blocks_invalidated", c["blocks_invalidated"]),
                ("regions_compiled", c["regions_compiled"]),
                ("regions_discarded", c["regions_discarded"]),
                ("code_cache_hits", c["code_cache_hits"]),
                ("code_cache_misses", c["code_cache_misses"]),
                ("region_cache_hits", c["region_cache_hits"]),
                ("region_cache_misses", c["region_cache_misses"]),
                *((f"{name}_ms", f"{1000 * self.times[name]:.1f}") for name in TIMES),
                ("exits_to_python", sum(exits.values())),
                *exits.items(),
                *((k, v) for k, v in sorted(c.items()) if k.endswith("_steps")),
                ("chain_hits", cpu.chain_count),
                ("jump_cache_hits", cpu.jc_hits),
                ("jump_cache_misses", cpu.jc_misses)]
        return "dbt stats:\n" + "\n".join(f"  {name:<20} {value}" for name, value in rows)
