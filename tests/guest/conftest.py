"""Fixtures for the guest-program tests: every program in src/ (and the
bundled examples/hello.S) compiled once per session, and its native run."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import guestbuild  # noqa: E402


@pytest.fixture(scope="session")
def guest_bins(tmp_path_factory):
    """Map program name to a freshly built binary."""
    outdir = tmp_path_factory.mktemp("guest")
    return {name: guestbuild.build(src, outdir) for name, src in guestbuild.sources().items()}


@pytest.fixture(scope="session")
def native_run(guest_bins):
    """native_run(name, args) runs the program natively, once per session."""
    cache = {}

    def run(name, args=()):
        key = (name, tuple(args))
        if key not in cache:
            cache[key] = guestbuild.run_native(guest_bins[name], args)
        return cache[key]
    return run
