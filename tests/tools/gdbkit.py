"""Drive the real gdb against `dbt run -g 0` (and, for reference, against a native run).

dbt picks a free port itself (-g 0) and names it on stderr, so no two tests
race for a port. Every process has a timeout: a stub that stops answering
fails the test instead of hanging it. `transcript` keeps only the lines that
mean something in both worlds (our @@ printf lines, watchpoint values, memory
dumps of globals, the exit line), so a native gdb session is the expected one.
"""
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SRC = Path(__file__).resolve().parent / "src"
TIMEOUT = 300                   # seconds for one gdb session (the interpreter is slow)
PORT_WAIT = 120                 # seconds for dbt to start listening
ENGINES = ("jit", "interp")
MEANINGFUL = re.compile(r"^(@@ .*|Old value = .*|New value = .*|Value = .*|Value returned is .*"
                        r"|0x[0-9a-f]+ <\w+(\+\d+)?>:\s.*|Cannot access memory at .*|Program terminated with .*"
                        r"|\[Inferior 1 \(.*\) exited .*\])$")


def need_gdb() -> str:
    gdb = shutil.which("gdb")
    if gdb is None:
        pytest.fail("gdb is required for the gdb stub tests (.ci/run installs it)")
    return gdb


def build(name: str, outdir: Path, *flags: str) -> Path:
    out = outdir / name
    cmd = ["gcc", "-g", "-O0", "-static", *flags, "-o", str(out), str(SRC / f"{name}.c")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"building {name} failed:\n{' '.join(cmd)}\n{proc.stderr}")
    return out


def status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def dbt_env() -> dict[str, str]:
    """The environment for `python -m dbt`: this checkout's dbt first."""
    return dict(os.environ, PYTHONPATH=str(REPO))


class DbtUnderGdb:
    """`dbt run -g 0 ...` started in the background; .port once it listens."""

    def __init__(self, dbt_args: list[str]):
        self.proc = subprocess.Popen([sys.executable, "-m", "dbt", "run", "-g", "0", *dbt_args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=dbt_env())
        self.stderr_lines: list[bytes] = []
        self.listening = threading.Event()
        self.reader = threading.Thread(target=self._read_stderr, daemon=True)
        self.reader.start()
        if not self.listening.wait(PORT_WAIT):
            self.kill()
            pytest.fail(f"dbt did not start listening: {b''.join(self.stderr_lines)!r}")
        found = re.search(rb"waiting for gdb on localhost:(\d+)", b"".join(self.stderr_lines))
        if found is None:
            self.kill()
            pytest.fail(f"dbt did not say where it listens: {b''.join(self.stderr_lines)!r}")
        self.port = int(found[1])

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr_lines.append(line)
            if b"waiting for gdb" in line:
                self.listening.set()
        self.listening.set()

    def finish(self) -> tuple[int, bytes, bytes]:
        """(exit status, stdout, stderr after the 'waiting' line) once dbt ends."""
        try:
            out = self.proc.stdout.read()
            self.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("dbt did not end after the gdb session")
        self.reader.join(TIMEOUT)
        err = b"".join(line for line in self.stderr_lines if b"waiting for gdb" not in line)
        return status(self.proc.returncode), out, err

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def run_gdb(program: Path, start: list[str], commands: list[str]) -> str:
    """gdb -batch on `program`: the `start` commands (target remote / run), then `commands`."""
    cmd = [need_gdb(), "-batch", "-nx", "-ex", "set pagination off", "-ex", "set confirm off"]
    for command in [*start, *commands]:
        cmd += ["-ex", command]
    proc = subprocess.run([*cmd, str(program)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    return proc.stdout


def debug_under_dbt(dbt_args: list[str], program: Path, commands: list[str]):
    """(gdb output, dbt's exit status, dbt's stdout, dbt's stderr) of one session."""
    dbt = DbtUnderGdb(dbt_args)
    try:
        text = run_gdb(program, [f"target remote localhost:{dbt.port}"], commands)
    except subprocess.TimeoutExpired:
        dbt.kill()
        pytest.fail("gdb did not finish its session with dbt")
    code, out, err = dbt.finish()
    return text, code, out, err


def debug_native(program: Path, commands: list[str], args: tuple[str, ...] = ()) -> str:
    start = ["set startup-with-shell off", *([f"set args {' '.join(args)}"] if args else []), "starti"]
    return run_gdb(program, start, commands)


def transcript(gdb_output: str) -> list[str]:
    """The meaningful lines; the inferior's name ('process N' / 'Remote target') left out."""
    lines = [line.strip() for line in gdb_output.splitlines() if MEANINGFUL.match(line.strip())]
    return [re.sub(r"^\[Inferior 1 \(.*?\)", "[Inferior 1", line) for line in lines]
