"""Ctrl-C (SIGINT to dbt) ends a guest even while it spins in translated code:
status 130 as for a process killed by SIGINT, one line on stderr, its output kept."""
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "guest"))
import guestbuild  # noqa: E402


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_sigint_stops_a_spinning_guest(tmp_path, engine):
    prog = guestbuild.build(guestbuild.sources()["spin"], tmp_path)
    child = subprocess.Popen([sys.executable, "-m", "dbt", "run", "--engine", engine, str(prog)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 30
    first = child.stdout.readline()           # the guest is running once it printed
    assert first == b"ready\n"
    time.sleep(0.3)
    child.send_signal(signal.SIGINT)
    try:
        rest, err = child.communicate(timeout=max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        child.kill()
        pytest.fail("dbt did not stop on SIGINT")
    assert child.returncode == 130
    assert rest == b"" and err.decode().strip() == "dbt: interrupted"
