"""Nothing lost: what a guest wrote to stdout/stderr (pipes or files) and to its files is
complete after it ends by exit, by a fatal signal (a fault, SIGTERM), by --max-insns, by
--timeout or by Ctrl-C (SIGINT to dbt ends it as SIGINT would: status 130, one line).
The oracle is the native run ended the same way (timeout(1) for the budgets, which outlast the writing, a real
SIGINT for Ctrl-C); under dbt stderr has at most one more line, dbt's own."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import budgetkit  # noqa: E402
from budgetkit import dbt_command, dbt_env, shell_status  # noqa: E402

LINES = {"jit": 5_000, "interp": 50}         # the interpreter is slow: less to write
BUDGET = {"jit": 300_000_000, "interp": 600_000}   # well past the writing (--stats: ~15M, ~0.16M)
NATIVE_TIMEOUT = 1.0                          # `timeout 1`: far longer than the native writing
DBT_TIMEOUTS = (8.0, 40.0)                    # --timeout: longer than start-up, translation and writing;
                                              # the longer one only when a busy host made the first too short
STATUS_OF_ENDING = {"exit": 3, "segv": 128 + signal.SIGSEGV, "term": 128 + signal.SIGTERM,
                    "budget": 124, "timeout": 124, "sigint": 128 + signal.SIGINT}


@pytest.fixture(scope="module")
def prog(tmp_path_factory):
    return budgetkit.build("nothing_lost", tmp_path_factory.mktemp("nothing_lost"))


def _run(cmd, out_file, sigint: bool):
    """Run cmd (stdout to out_file, or a pipe when None); with sigint, send SIGINT once it said
    "ready" on stderr. Returns (status, stdout bytes, stderr text)."""
    stdout = subprocess.PIPE if out_file is None else open(out_file, "wb")
    child = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                             env=dbt_env(), preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    out = []
    drain = threading.Thread(target=lambda: out.append(child.stdout.read() if out_file is None else b""))
    drain.start()                             # a full stdout pipe must not block the guest
    try:
        err = b""
        if sigint:
            while not err.endswith(b"ready\n"):
                chunk = child.stderr.read1(4096)
                assert chunk, f"the guest ended before it was ready: {err!r}"
                err += chunk
            time.sleep(0.3)                   # well inside the spin loop
            child.send_signal(signal.SIGINT)
        err += child.stderr.read()
        child.wait(timeout=budgetkit.TIMEOUT)
    finally:
        if child.poll() is None:
            child.kill()
        drain.join()
        if out_file is not None:
            stdout.close()
    data = out[0] if out_file is None else Path(out_file).read_bytes()
    return shell_status(child.returncode), data, err.decode(errors="replace")


def _native_command(prog, ending, path, lines):
    args = [str(prog), "spin" if ending in ("budget", "timeout", "sigint") else ending, str(path), str(lines)]
    if ending in ("budget", "timeout"):
        return ["timeout", str(NATIVE_TIMEOUT), *args]
    return args


def _dbt_command(prog, engine, ending, path, lines, timeout=DBT_TIMEOUTS[0]):
    options = {"budget": ["--max-insns", str(BUDGET[engine])],
               "timeout": ["--timeout", str(timeout)]}.get(ending, [])
    how = "spin" if ending in ("budget", "timeout", "sigint") else ending
    return dbt_command(engine, options, prog, [how, path, LINES[engine]])


CASES = ([("jit", "pipe", ending) for ending in STATUS_OF_ENDING]
         + [("interp", "pipe", ending) for ending in STATUS_OF_ENDING]
         + [("jit", "file", ending) for ending in ("exit", "segv", "sigint")])


@pytest.mark.parametrize("engine, stdout_kind, ending", CASES)
def test_output_complete(prog, tmp_path, engine, ending, stdout_kind):
    lines = LINES[engine]
    results = {}
    for who in ("native", "dbt"):
        path = tmp_path / f"{who}.txt"
        out_file = None if stdout_kind == "pipe" else tmp_path / f"{who}.stdout"
        for timeout in DBT_TIMEOUTS:
            cmd = (_native_command(prog, ending, path, lines) if who == "native"
                   else _dbt_command(prog, engine, ending, path, lines, timeout))
            status, out, err = _run(cmd, out_file, ending == "sigint")
            if ending != "timeout" or "ready\n" in err:
                break       # else the timeout came before the guest had written all: not what is tested
        results[who] = status, out, err, path.read_bytes()
    n_status, n_out, n_err, n_file = results["native"]
    status, out, err, file_data = results["dbt"]
    assert n_status == STATUS_OF_ENDING[ending]           # the oracle ended as intended
    assert status == n_status, err
    assert out == n_out and len(out.splitlines()) == lines
    assert file_data == n_file and len(file_data.splitlines()) == lines
    guest_err, _, dbt_line = err.rpartition("ready\n")
    assert guest_err + "ready\n" == n_err                  # the guest's own stderr, complete
    assert "Traceback" not in err and dbt_line.count("\n") <= 1
    if ending in ("budget", "timeout", "sigint", "segv"):
        assert dbt_line.startswith("dbt: ")


@pytest.mark.parametrize("mode", ["read", "sleep"])
def test_sigint_while_blocked(tmp_path, mode):
    """Ctrl-C reaches a guest blocked in read() on a pipe that never delivers or in nanosleep:
    status 130 and one line, as for a native program SIGINT kills; its output is kept."""
    prog = budgetkit.build("budgets", tmp_path)
    r, w = os.pipe()
    try:
        child = subprocess.Popen(dbt_command("jit", (), prog, [mode]), stdin=r, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=dbt_env(),
                                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            assert child.stdout.readline() == b"ready\n"
            time.sleep(0.5)                   # inside the blocking call
            child.send_signal(signal.SIGINT)
            out, err = child.communicate(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
    finally:
        os.close(r)
        os.close(w)
    assert (shell_status(child.returncode), out, err) == (128 + signal.SIGINT, b"", b"dbt: interrupted\n")
