"""Tier 0 from the command line (--jit-after, DBT_JIT_AFTER): guest programs give the native
output whether each block is compiled at once or interpreted first, retire the same
instructions, stop at exactly --max-insns across the promotion, and --stats counts the
blocks never compiled (blocks_tier_interp) and the time interpreting them (interp_ms)."""
import re
import subprocess
import sys

import pytest

import guestbuild

PROGRAMS = ("calls", "loops", "strings", "switch")


def stats_run(prog, *options, env=None):
    cmd = [sys.executable, "-m", "dbt", "run", "--no-cache", "--stats", *options, str(prog)]
    got = subprocess.run(cmd, capture_output=True, timeout=guestbuild.TIMEOUT, cwd=guestbuild.REPO, env=env)
    assert b"Traceback" not in got.stderr, got.stderr.decode(errors="replace")
    return got, guestbuild.parse_stats(got.stderr)


def interp_ms(stderr: bytes) -> float:
    return float(re.search(rb"^\s*interp_ms\s+([\d.]+)\s*$", stderr, re.M)[1])


@pytest.mark.parametrize("name", PROGRAMS)
def test_tier0_matches_direct_compile_and_native(name, guest_bins, native_run):
    native = native_run(name)
    (direct, at_once), (tiered, first_interp) = (stats_run(guest_bins[name], "--jit-after", n) for n in ("1", "3"))
    for got in (direct, tiered):
        assert (got.stdout, got.returncode) == (native.stdout, guestbuild.status(native.returncode))
    assert first_interp["insns_retired"] == at_once["insns_retired"] > 0
    assert at_once.get("blocks_tier_interp", 0) == 0 and interp_ms(direct.stderr) == 0
    assert first_interp["blocks_tier_interp"] > 0 and first_interp["blocks_tier_block"] > 0
    assert interp_ms(tiered.stderr) > 0
    assert first_interp["blocks_tier_block"] + first_interp["blocks_tier_interp"] == at_once["blocks_tier_block"]


@pytest.mark.parametrize("budget", (1, 57, 1000, 4321))
def test_max_insns_exact_across_promotion(budget, guest_bins):
    """The budget ends a run while blocks are interpreted, just promoted, or native: exactly there,
    as under the interpreter (status 124, the same output so far)."""
    runs = [stats_run(guest_bins["loops"], "--max-insns", str(budget), *options)
            for options in (("--engine", "interp"), ("--jit-after", "4"), ("--jit-after", "1"))]
    (reference, _), *_ = runs
    for got, stats in runs:
        assert stats["insns_retired"] == budget
        assert (got.stdout, got.returncode) == (reference.stdout, 124)


def test_jit_after_from_the_environment(guest_bins, monkeypatch):
    """DBT_JIT_AFTER chooses N when --jit-after does not; a bad value is a usage error (2)."""
    monkeypatch.setenv("DBT_JIT_AFTER", "1")
    _, compiled = stats_run(guest_bins["calls"])
    assert compiled.get("blocks_tier_interp", 0) == 0
    _, interpreted = stats_run(guest_bins["calls"], "--jit-after", "1000000")
    assert interpreted.get("blocks_tier_block", 0) == 0 and interpreted["blocks_tier_interp"] > 0
    monkeypatch.setenv("DBT_JIT_AFTER", "0")
    got = subprocess.run([sys.executable, "-m", "dbt", "run", str(guest_bins["calls"])], capture_output=True,
                         timeout=guestbuild.TIMEOUT, cwd=guestbuild.REPO)
    assert got.returncode == 2 and got.stdout == b""
    assert got.stderr.count(b"\n") == 1 and b"DBT_JIT_AFTER" in got.stderr
