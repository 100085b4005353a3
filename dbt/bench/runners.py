"""One run of one benchmark binary under one runner: native, qemu-x86_64, dbt jit (cold: no
code cache, everything translated in the run), dbt warm (jit with a persistent code cache that an
untimed run filled first) or dbt interp.

A run is timed from the parent (wall clock, and the child's user + system CPU time) and
keeps the guest's stdout and exit status for checking. dbt runs add --stats, whose
insns_retired is the guest instruction count the instruction rates are computed from.
"""
import os
import re
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

RUNNERS = ("native", "qemu", "jit", "warm", "interp")
DBT_RUNNERS = ("jit", "warm", "interp")
DBT_ROOT = Path(__file__).resolve().parents[2]         # the dbt being benchmarked runs the guests
def stat(name: str) -> re.Pattern:
    """A counter of dbt's --stats report."""
    return re.compile(rb"^\s+" + name.encode() + rb"\s+(\d+)\s*$", re.MULTILINE)


INSNS_RETIRED, CODE_CACHE_HITS = stat("insns_retired"), stat("code_cache_hits")


@dataclass
class RunResult:
    wall: float                # seconds
    cpu: float                 # the child's user + system seconds
    stdout: bytes
    stderr: bytes
    status: int                # shell style: 128 + N for a death by signal N
    timed_out: bool = False
    insns: int | None = None   # guest instructions retired (dbt runners only)
    cache_hits: int = 0        # blocks loaded from the code cache (dbt runners only)


def qemu_path() -> str | None:
    import shutil                         # here, as subprocess in run_once
    return shutil.which("qemu-x86_64")


def command(runner: str, binary: Path, size: int, dbt_options: tuple[str, ...] = (),
            warm_cache: Path | None = None) -> list[str]:
    """warm_cache: the code cache directory of the warm runner."""
    args = [str(binary), str(size)]
    if runner == "native":
        return args
    if runner == "qemu":
        return [qemu_path() or "qemu-x86_64", *args]
    cache = ["--cache-dir", str(warm_cache)] if runner == "warm" else ["--no-cache"]
    engine = "interp" if runner == "interp" else "jit"
    return [sys.executable, "-m", "dbt", "run", "--engine", engine, "--stats", *cache, *dbt_options, *args]


def environment() -> dict[str, str]:
    """The dbt runs' environment: this one without DBT_CACHE (the runners choose: jit none,
    warm its own directory) and with this dbt importable."""
    env = dict(os.environ)
    env.pop("DBT_CACHE", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(DBT_ROOT), env.get("PYTHONPATH")) if p)
    return env


def run_once(cmd: list[str], timeout: float) -> RunResult:
    import subprocess                     # here: `dbt run` imports this module, and never runs it
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                              env=environment())
    except subprocess.TimeoutExpired as e:
        return RunResult(time.perf_counter() - start, 0.0, e.stdout or b"", e.stderr or b"", -1, timed_out=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    status = 128 - proc.returncode if proc.returncode < 0 else proc.returncode
    found, hits = INSNS_RETIRED.search(proc.stderr), CODE_CACHE_HITS.search(proc.stderr)
    return RunResult(wall, cpu, proc.stdout, proc.stderr, status, insns=int(found.group(1)) if found else None,
                     cache_hits=int(hits.group(1)) if hits else 0)
