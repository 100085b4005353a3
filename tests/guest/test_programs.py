"""Guest programs under both engines must match the native run: same stdout
bytes, same exit status, and jit and interp must retire the same number of
instructions. The hot loop checks that translated code stays native."""
import pytest

import guestbuild

ARGS = {"args": ["one", "two words", "", "\u00fcn\u00efcode", "-x"]}
SLOW_FOR_INTERP = {"hotloop", "jumpcache"}   # tens of millions, hundreds of thousands of instructions
FAULTING = {"bad_ud2", "bad_segv", "bad_div0"}   # see tests/test_cli_errors.py
ENDLESS = {"spin"}                                # never exits: see tests/test_sigint.py
PROGRAMS = sorted(set(guestbuild.sources()) - SLOW_FOR_INTERP - FAULTING - ENDLESS)
ENGINES = ["jit", "interp"]


@pytest.fixture(scope="module")
def dbt_run(guest_bins):
    """dbt_run(name, engine): one `--stats` run per program and engine."""
    cache = {}

    def run(name, engine):
        if (name, engine) not in cache:
            cache[name, engine] = guestbuild.run_dbt(
                guest_bins[name], ARGS.get(name, ()), engine, stats=True)
        return cache[name, engine]
    return run


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", PROGRAMS)
def test_matches_native(name, engine, native_run, dbt_run):
    native = native_run(name, ARGS.get(name, ()))
    got = dbt_run(name, engine)
    assert b"Traceback" not in got.stderr, got.stderr.decode(errors="replace")
    assert got.stdout == native.stdout
    assert got.returncode == guestbuild.status(native.returncode)


@pytest.mark.parametrize("name", PROGRAMS)
def test_engines_retire_same_insns(name, dbt_run):
    jit = guestbuild.parse_stats(dbt_run(name, "jit").stderr)
    interp = guestbuild.parse_stats(dbt_run(name, "interp").stderr)
    assert jit["insns_retired"] > 0
    assert jit["insns_retired"] == interp["insns_retired"]


def test_quiet_without_stats(guest_bins, native_run):
    """A clean run writes the guest's output and nothing of dbt's own."""
    got = guestbuild.run_dbt(guest_bins["hello"])
    assert got.stdout == native_run("hello").stdout
    assert got.stderr == b""
    assert got.returncode == 0


def test_hot_loop_stays_native(guest_bins, native_run):
    got = guestbuild.run_dbt(guest_bins["hotloop"], engine="jit", stats=True)
    assert got.stdout == native_run("hotloop").stdout
    assert got.returncode == 0
    stats = guestbuild.parse_stats(got.stderr)
    assert stats["insns_retired"] > 5_000_000     # at least one per iteration
    per_million = stats["exits_to_python"] * 1e6 / stats["insns_retired"]
    assert per_million < 10, stats


def test_indirect_calls_stay_native_after_a_jump_cache_eviction(guest_bins, native_run):
    """An indirect call target whose jump-cache entry another target took is found again by
    the first call that misses: the next 100000 calls stay native. (Regions off: with them,
    the loop's region takes the call's recorded target in and the calls never leave it.)"""
    got = guestbuild.run_dbt(guest_bins["jumpcache"], engine="jit", stats=True, options=("--regions", "off"))
    assert got.stdout == native_run("jumpcache").stdout
    assert got.returncode == 0
    stats = guestbuild.parse_stats(got.stderr)
    assert stats["jump_cache_hits"] >= 100_000, stats
    assert stats["exits_to_python"] < 100, stats
