"""Run the benchmark set: build, take native reference answers, then repetitions that
interleave every runner on every program; check each answer; reduce to medians and ratios.

A runner's answer (stdout and exit status) must equal the native run's at the same size,
and the native run must pass its own self-check (status 0): any difference stops the
benchmark with BenchFailure. Ratios: dbt/native and dbt/qemu compare wall times at the
same size; jit/interp compares guest instructions per second (interp runs a smaller size).
cpu_time_ratios repeat dbt/native and dbt/qemu with user + system time, steadier on a busy host.
"""
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from dbt.bench.programs import PROGRAMS, Program, build
from dbt.bench.runners import RunResult, command, run_once


class BenchFailure(Exception):
    """A wrong answer, a failed self-check, a timeout or a crash under some runner."""


@dataclass(frozen=True)
class Settings:
    programs: tuple[str, ...] = tuple(PROGRAMS)
    libcs: tuple[str, ...] = ("glibc",)
    runners: tuple[str, ...] = ("native", "qemu", "jit", "interp")
    scale: float = 1.0
    repetitions: int = 3
    timeout: float = 600.0
    dbt_options: tuple[str, ...] = ()


@dataclass
class Case:
    """One program built against one libc, with its sizes and the runs taken so far."""
    program: Program
    libc: str
    binary: Path
    size: int
    interp_size: int
    reference: dict[int, RunResult] = field(default_factory=dict)     # native answer per size
    runs: dict[str, list[RunResult]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.program.name} ({self.libc})"

    def size_for(self, runner: str) -> int:
        return self.interp_size if runner == "interp" else self.size

    def reference_sizes(self, runners: tuple[str, ...]) -> list[int]:
        return sorted({self.size_for(r) for r in runners} | {self.size})


def prepare(settings: Settings, cache_dir: Path) -> list[Case]:
    cases = []
    for libc in settings.libcs:
        for name in settings.programs:
            program = PROGRAMS[name]
            cases.append(Case(program, libc, build(program, libc, cache_dir),
                              program.scaled(program.size, settings.scale),
                              program.scaled(program.interp_size, settings.scale)))
    return cases


def steps(settings: Settings, cases: list[Case]) -> int:
    """How many runs run() makes, for a progress display."""
    runs = settings.repetitions * len(settings.runners)
    return sum(len(case.reference_sizes(settings.runners)) + runs for case in cases)


def describe(result: RunResult) -> str:
    if result.timed_out:
        return "timed out"
    tail = result.stderr.decode(errors="replace").strip().splitlines()[-1:]
    return f"exit status {result.status}" + (f" ({tail[0]})" if tail else "")


def take_reference(case: Case, size: int, timeout: float) -> None:
    result = run_once(command("native", case.binary, size), timeout)
    if result.status != 0 or result.timed_out:
        raise BenchFailure(f"{case.label} at size {size} fails natively: {describe(result)}")
    case.reference[size] = result


def check(case: Case, runner: str, result: RunResult) -> None:
    expected = case.reference[case.size_for(runner)]
    where = f"{case.label} under {runner}"
    if result.timed_out or result.status != expected.status:
        raise BenchFailure(f"{where}: {describe(result)}, natively {expected.status}")
    if result.stdout != expected.stdout:
        raise BenchFailure(f"{where}: wrong answer {result.stdout[:200]!r}, natively {expected.stdout[:200]!r}")
    if runner in ("jit", "interp") and result.insns is None:
        raise BenchFailure(f"{where}: no insns_retired in dbt's --stats output")


def run(settings: Settings, cases: list[Case], step: Callable[[str], None] = lambda label: None) -> None:
    """Reference answers first, then `repetitions` rounds, each running every runner on every case."""
    for case in cases:
        for size in case.reference_sizes(settings.runners):
            step(f"{case.label}: native reference at size {size}")
            take_reference(case, size, settings.timeout)
    for rep in range(settings.repetitions):
        for case in cases:
            for runner in settings.runners:
                step(f"{case.label}: {runner}, repetition {rep + 1}/{settings.repetitions}")
                result = run_once(command(runner, case.binary, case.size_for(runner), settings.dbt_options),
                                  settings.timeout)
                check(case, runner, result)
                case.runs.setdefault(runner, []).append(result)


def geomean(values: list[float]) -> float | None:
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def summarize(case: Case) -> dict:
    """Medians, rates and ratios of one case, JSON-ready."""
    wall = {r: statistics.median(x.wall for x in runs) for r, runs in case.runs.items()}
    cpu = {r: statistics.median(x.cpu for x in runs) for r, runs in case.runs.items()}
    insns = {r: runs[0].insns for r, runs in case.runs.items() if runs[0].insns is not None}
    if "jit" in insns:                  # the same binary and size: the same guest instructions
        insns.update({r: insns["jit"] for r in ("native", "qemu") if r in wall})
    rate = {r: insns[r] / wall[r] for r in insns}
    ratios, cpu_ratios = {}, {}
    if "jit" in wall:
        ratios.update({f"dbt/{r}": wall["jit"] / wall[r] for r in ("native", "qemu") if r in wall})
        cpu_ratios.update({f"dbt/{r}": cpu["jit"] / cpu[r] for r in ("native", "qemu") if cpu.get(r)})
        if "interp" in rate:
            ratios["jit/interp"] = rate["jit"] / rate["interp"]
    return {"program": case.program.name, "libc": case.libc, "size": case.size,
            "interp_size": case.interp_size, "answer": case.reference[case.size].stdout.decode(errors="replace"),
            "wall_seconds": {r: [x.wall for x in runs] for r, runs in case.runs.items()},
            "median_wall_seconds": wall, "median_cpu_seconds": cpu, "guest_insns": insns,
            "guest_insns_per_second": rate, "ratios": ratios, "cpu_time_ratios": cpu_ratios}


def summary(cases: list[Case]) -> tuple[list[dict], dict]:
    rows = [summarize(case) for case in cases]
    names = sorted({name for row in rows for name in row["ratios"]})
    return rows, {name: geomean([row["ratios"][name] for row in rows if name in row["ratios"]]) for name in names}
