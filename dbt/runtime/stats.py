"""Run statistics behind `--stats`: counters and timers, printed as `  name value` lines."""
from collections import Counter


class Stats:
    def __init__(self):
        self.counters: Counter = Counter()
        self.times: Counter = Counter()

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def add_time(self, name: str, seconds: float) -> None:
        self.times[name] += seconds

    def report(self, cpu, engine_name: str) -> str:
        c = self.counters
        exits = {k: v for k, v in sorted(c.items()) if k.startswith("exit_")}
        rows = [("engine", engine_name),
                ("insns_retired", cpu.icount),
                ("blocks_translated", c["blocks_translated"]),
                ("blocks_invalidated", c["blocks_invalidated"]),
                ("regions_compiled", c["regions_compiled"]),
                ("region_compile_ms", f"{1000 * self.times['region_compile']:.1f}"),
                ("translate_ms", f"{1000 * self.times['translate']:.1f}"),
                ("compile_ms", f"{1000 * self.times['compile']:.1f}"),
                ("execute_ms", f"{1000 * self.times['execute']:.1f}"),
                ("exits_to_python", sum(exits.values())),
                *exits.items(),
                ("chain_hits", cpu.chain_count)]
        return "dbt stats:\n" + "\n".join(f"  {name:<20} {value}" for name, value in rows)
