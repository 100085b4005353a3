"""Shared by the engine benchmarks: record a rate (things per second of the median round)
in a case's extra_info, only when timings were taken (not under --benchmark-disable)."""
import pytest


@pytest.fixture
def record_rate(benchmark):
    def record(name: str, amount: int) -> None:
        benchmark.extra_info[name.removesuffix("_per_second")] = amount
        if benchmark.stats is not None:
            benchmark.extra_info[name] = amount / benchmark.stats.stats.median
    return record
