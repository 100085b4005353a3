"""Build the libc guest programs of src/ and run a guest natively or under dbt.

Shared by the tests in this folder and by inventory.py. Every program is
compiled at test time with `gcc -O2 -static` (glibc) and `musl-gcc -O2
-static` (musl); binaries are never committed. A native run is the expected
output: nothing here knows what a program should print.
"""
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SRC = Path(__file__).resolve().parent / "src"

COMPILERS = {"glibc": "gcc", "musl": "musl-gcc"}
LIBCS = tuple(COMPILERS)
C_FLAGS = ["-O2", "-static"]
C_LIBS = ["-lm"]

TIMEOUT = 300            # seconds for one guest run (a hang fails, slowly)
DIR_ARG = "{dir}"        # in a case's args: a fresh empty directory for the run

# The environment of every run, native or not, so a guest sees the same one
# under dbt (which passes its own environment on) as natively. LC_ALL keeps
# Python from adding LC_CTYPE to it (PEP 538). Bytes that are not UTF-8 are
# legal in an environment and must reach the guest unchanged.
GUEST_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/nonexistent",
    "LC_ALL": "C",
    "TZ": "UTC",
    "GUEST_VAR": "a value with  spaces = and \u00fcn\u00efcode",
    "GUEST_EMPTY": "",
    "GUEST_RAW": b"\xff\xfe not UTF-8 \xc3",
}


class BuildError(Exception):
    """A guest program did not compile (or its compiler is missing)."""


@dataclass
class Result:
    stdout: bytes
    stderr: bytes
    status: int              # shell style: 128 + N for a death by signal N
    timed_out: bool = False


def sources() -> dict[str, Path]:
    return {src.stem: src for src in sorted(SRC.glob("*.c"))}


def build(name: str, libc: str, outdir: Path) -> Path:
    """Compile src/<name>.c against `libc` into outdir."""
    compiler = shutil.which(COMPILERS[libc])
    if compiler is None:
        raise BuildError(f"{COMPILERS[libc]} is required to build the {libc} guest programs "
                         f"(Debian: apt-get install {'gcc' if libc == 'glibc' else 'musl-tools'})")
    src = SRC / f"{name}.c"
    out = Path(outdir) / f"{name}.{libc}"
    cmd = [compiler, *C_FLAGS, "-o", str(out), str(src), *C_LIBS]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"building {src.name} for {libc} failed:\n{' '.join(cmd)}\n{proc.stderr}")
    return out


def status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def run(cmd: list[str], stdin: bytes = b"", timeout: float = TIMEOUT, cwd: Path = REPO) -> Result:
    """Run cmd in cwd (where `python -m dbt` finds dbt) with GUEST_ENV, feeding stdin; never raises on timeout."""
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout,
                              cwd=cwd, env=GUEST_ENV)
    except subprocess.TimeoutExpired as e:
        return Result(e.stdout or b"", e.stderr or b"", -1, timed_out=True)
    return Result(proc.stdout, proc.stderr, status(proc.returncode))


def dbt_command(engine: str = "jit", extra: tuple[str, ...] = ()) -> list[str]:
    return [sys.executable, "-m", "dbt", "run", "--engine", engine, *extra]


def run_guest(prog, args=(), stdin: bytes = b"", engine: str | None = None,
              extra: tuple[str, ...] = (), timeout: float = TIMEOUT, dbt_root: Path = REPO) -> Result:
    """Run prog natively (engine None) or under `python -m dbt run --engine ENGINE`
    with the dbt package of dbt_root.

    An argument equal to DIR_ARG becomes a fresh empty directory, removed after the run.
    """
    with tempfile.TemporaryDirectory(prefix="dbt-guest-") as scratch:
        argv = [str(prog), *(scratch if a == DIR_ARG else a for a in args)]
        cmd = argv if engine is None else [*dbt_command(engine, extra), *argv]
        return run(cmd, stdin, timeout, dbt_root)


def first_difference(want: bytes, got: bytes) -> str:
    """The first line where two outputs differ, for a short failure message."""
    a, b = want.splitlines(keepends=True), got.splitlines(keepends=True)
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"line {i + 1}: native {x[:200]!r}, dbt {y[:200]!r}"
    if len(a) != len(b):
        return f"native has {len(a)} lines, dbt {len(b)} (first extra: {(a + b)[min(len(a), len(b))][:200]!r})"
    return "outputs equal"


def mismatch(native: Result, got: Result) -> str | None:
    """None when got matches native (stdout bytes and status), else why not, in a few lines."""
    err = got.stderr.decode(errors="replace").strip()
    if got.timed_out:
        return f"dbt timed out after {TIMEOUT}s; stderr: {err[-500:]}"
    if "Traceback" in err:
        return f"dbt printed a traceback:\n{err[-2000:]}"
    if got.stdout == native.stdout and got.status == native.status:
        return None
    lines = [f"status: native {native.status}, dbt {got.status}"]
    if got.stdout != native.stdout:
        lines.append(f"stdout differs ({len(native.stdout)} vs {len(got.stdout)} bytes): "
                     f"{first_difference(native.stdout, got.stdout)}")
    if err:
        lines.append("dbt stderr: " + " | ".join(err.splitlines()[-3:]))
    return "\n".join(lines)



def check(outcome: tuple[Result, Result]) -> None:
    """Fail the current test unless the dbt run of (native, dbt) matches the native one."""
    why = mismatch(*outcome)
    if why:
        pytest.fail(why, pytrace=False)
