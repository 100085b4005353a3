"""Build and run the guest test programs of tests/guest/src.

Shared by tests/guest/ and tests/test_cli_errors.py. Programs are compiled at
test time (binaries are never committed) and their native run is the
expected output: nothing here knows what a program should print.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SRC = Path(__file__).resolve().parent / "src"
EXTRA_SOURCES = [REPO / "examples" / "hello.S"]

# Freestanding, static, no SSE (so no vector code), no stack protector or
# CET notes. -lgcc supplies helpers such as __popcountdi2 at the default ISA.
C_FLAGS = ["-O2", "-static", "-nostdlib", "-fno-stack-protector", "-fno-pie",
           "-no-pie", "-mgeneral-regs-only", "-fcf-protection=none"]
C_LIBS = ["-lgcc"]
ASM_FLAGS = ["-nostdlib", "-static"]

TIMEOUT = 900   # seconds for one guest run; the interpreter is slow


def sources():
    """Map program name to its source file."""
    found = sorted(SRC.glob("*.c")) + sorted(SRC.glob("*.S")) + EXTRA_SOURCES
    return {src.stem: src for src in found}


def build(src, outdir):
    """Compile one guest program into outdir; fail the test if gcc fails."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is required to build the guest programs")
    out = Path(outdir) / src.stem
    if src.suffix == ".c":
        cmd = [gcc, *C_FLAGS, "-I", str(SRC), "-o", str(out), str(src), *C_LIBS]
    else:
        cmd = [gcc, *ASM_FLAGS, "-o", str(out), str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"building {src.name} failed:\n{' '.join(cmd)}\n{proc.stderr}")
    return out


def status(returncode):
    """A shell-style exit status: a death by signal N becomes 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def run_native(prog, args=()):
    return subprocess.run([str(prog), *args], capture_output=True, timeout=TIMEOUT)


def run_dbt(prog, args=(), engine="jit", stats=False, options=()):
    """Run `python -m dbt run [options]` on a guest; returns the CompletedProcess."""
    cmd = [sys.executable, "-m", "dbt", "run", "--engine", engine, *options]
    if stats:
        cmd.append("--stats")
    cmd += [str(prog), *args]
    return subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, cwd=REPO)


def parse_stats(stderr):
    """The integer figures that --stats prints after its `dbt stats:` line."""
    text = stderr.decode(errors="replace")
    head = re.search(r"^dbt stats:\s*$", text, re.M)
    assert head, f"no 'dbt stats:' header in stderr:\n{text}"
    body = text[head.end():]
    return {m[1]: int(m[2]) for m in re.finditer(r"^\s*(\w+)\s+(\d+)\s*$", body, re.M)}
