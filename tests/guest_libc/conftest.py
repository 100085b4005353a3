"""Fixtures for the libc guest programs and busybox.

Each test compares one dbt run with the native run of the same guest. The
runs are subprocesses that mostly wait on LLVM, so a small thread pool runs
them ahead of the tests, in the order the selected tests will ask for them
(one worker per core): `guest_outcome` is the (native, dbt) pair of the
current test. Programs are built once per session for glibc and for musl.
"""
import os
import shutil
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))     # libcbuild, libc_cases
import libc_cases  # noqa: E402
import libcbuild  # noqa: E402

BUSYBOX_APPLETS = {a.id: a for a in libc_cases.BUSYBOX_CASES}


def spec_of(item):
    """The guest run a test of this folder checks: (kind, name, libc, engine), or None.

    Tests name their engine in their function name and take either the
    parameters `case` and `libc` (a program of src/) or `applet` (busybox).
    """
    if Path(item.path).resolve().parent != HERE:
        return None
    params = getattr(getattr(item, "callspec", None), "params", {})
    engine = "interp" if "interp" in getattr(item, "originalname", "") else "jit"
    if "case" in params and "libc" in params:
        return ("prog", params["case"].name, params["libc"], engine)
    if "applet" in params:
        return ("busybox", params["applet"].id, None, engine)
    return None


class GuestRunner:
    """Builds, runs natively and runs under dbt, on a thread pool; every result kept."""

    def __init__(self, outdir: Path, data: Path, workers: int):
        self.outdir, self.data = outdir, data
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="guest")
        self.lock = threading.Lock()
        self.builds, self.natives, self.jobs = {}, {}, {}

    def _once(self, table, key, make):
        with self.lock:
            if key not in table:
                table[key] = (threading.Lock(), [])
            lock, box = table[key]
        with lock:
            if not box:
                try:
                    box.append((make(), None))
                except libcbuild.BuildError as e:
                    box.append((None, e))
        value, error = box[0]
        if error is not None:
            raise error
        return value

    def _plan(self, spec):
        """(program, args, stdin) for a spec; builds the program if needed."""
        kind, name, libc, engine = spec
        if kind == "busybox":
            if shutil.which(libc_cases.BUSYBOX) is None:
                raise libcbuild.BuildError(f"{libc_cases.BUSYBOX} is required "
                                           "(Debian: apt-get install busybox-static)")
            applet = BUSYBOX_APPLETS[name]
            return libc_cases.BUSYBOX, [a.replace("{d}", str(self.data)) for a in applet.argv], applet.stdin
        case = libc_cases.CASE_BY_NAME[name]
        prog = self._once(self.builds, (name, libc), lambda: libcbuild.build(name, libc, self.outdir))
        if engine == "interp":
            return prog, case.small_args, case.small_stdin
        return prog, case.args, case.stdin

    def _run(self, spec):
        prog, args, stdin = self._plan(spec)
        native = self._once(self.natives, (str(prog), tuple(args), stdin),
                            lambda: libcbuild.run_guest(prog, args, stdin))
        return native, libcbuild.run_guest(prog, args, stdin, engine=spec[3])

    def submit(self, spec):
        with self.lock:
            if spec not in self.jobs:
                self.jobs[spec] = self.pool.submit(self._run, spec)
            return self.jobs[spec]

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session")
def guest_runner(request, tmp_path_factory):
    data = tmp_path_factory.mktemp("busybox")
    libc_cases.busybox_files(data)
    runner = GuestRunner(tmp_path_factory.mktemp("libc"), data, workers=min(os.cpu_count() or 1, 4))
    for item in request.session.items:      # queue every selected test's run, in test order
        spec = spec_of(item)
        if spec is not None:
            runner.submit(spec)
    yield runner
    runner.close()


@pytest.fixture
def guest_outcome(request, guest_runner):
    """(native, dbt) Results for the current test; a build error fails it."""
    spec = spec_of(request.node)
    assert spec is not None, "guest_outcome needs a test parametrized by case+libc or applet"
    try:
        return guest_runner.submit(spec).result()
    except libcbuild.BuildError as e:
        pytest.fail(str(e), pytrace=False)
