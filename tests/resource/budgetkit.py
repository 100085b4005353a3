"""Shared by the resource tests (budgets, confinement, nothing lost): build a guest of
src/ once per session (static, musl-gcc, else gcc/glibc) and run `python -m dbt run` on it."""
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SRC = Path(__file__).resolve().parent / "src"
ENGINES = ("jit", "interp")
TIMEOUT = 300          # seconds for one run: a hang fails the test instead of blocking CI


def build(name: str, outdir: Path) -> Path:
    """Compile src/NAME.c statically into outdir."""
    compiler = shutil.which("musl-gcc") or shutil.which("gcc")
    if compiler is None:
        pytest.fail("gcc (or musl-gcc) is required to build the resource-test guests")
    out = outdir / name
    proc = subprocess.run([compiler, "-O2", "-static", "-o", str(out), str(SRC / f"{name}.c")],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"building {name}.c failed:\n{proc.stderr}")
    return out


def shell_status(returncode: int) -> int:
    """A shell-style exit status: a death by signal N becomes 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


@dataclass
class Run:
    status: int
    out: bytes
    err: str
    seconds: float

    def one_line(self) -> str:
        """The single stderr line a stopped run must print (no traceback, nothing else)."""
        lines = self.err.splitlines()
        assert len(lines) == 1, f"want one stderr line, got:\n{self.err}"
        return lines[0]


def dbt_command(engine: str, options=(), prog=None, args=()) -> list[str]:
    return [sys.executable, "-m", "dbt", "run", "--engine", engine, *options, str(prog), *map(str, args)]


def dbt_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    return env


def run_dbt(prog, args=(), engine="jit", options=(), stdin=subprocess.DEVNULL, cwd=None) -> Run:
    start = time.monotonic()
    got = subprocess.run(dbt_command(engine, options, prog, args), stdin=stdin, capture_output=True,
                         timeout=TIMEOUT, env=dbt_env(), cwd=cwd)
    return Run(got.returncode, got.stdout, got.stderr.decode(errors="replace"), time.monotonic() - start)
