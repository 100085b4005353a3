"""Faults in translated loops come at exactly the access that makes them.

A translated loop's accesses run unchecked until the host refuses one (its fault
continues at that access's exact check: dbt/backend/llvm/host_faults.py), and a group
of accesses is checked once at its first. src/loops.c runs loops into pages that
refuse them (upward, downward, unaligned and straddling, strided over a page,
storing into a read-only page, a page revoked by the loop itself) and prints the
signal, si_addr and registers at each fault and a checksum of the memory; dbt's
output must be the native run's, with regions compiled at once and as `dbt run`
compiles them.
"""
import os
import subprocess
import sys

import pytest
from budgetkit import build


@pytest.fixture(scope="module")
def loops_program(tmp_path_factory):
    prog = build("loops", tmp_path_factory.mktemp("loops"))
    native = subprocess.run([str(prog)], capture_output=True, timeout=60)
    assert native.returncode == 0 and native.stdout.count(b"signo 11") >= 30, native
    return prog, native.stdout


@pytest.mark.parametrize("regions", ["always", "on"])
def test_loops_fault_where_the_host_faults(loops_program, regions):
    prog, expected = loops_program
    env = dict(os.environ, DBT_REGIONS=regions)
    run = subprocess.run([sys.executable, "-m", "dbt", "run", "--no-cache", str(prog)], capture_output=True,
                         timeout=600, env=env)
    assert run.returncode == 0, run.stderr.decode()
    assert run.stdout.decode().splitlines() == expected.decode().splitlines()
