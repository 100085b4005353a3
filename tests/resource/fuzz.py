#!/usr/bin/env python3
"""Fuzz campaign: every case (fuzzgen.py) runs under the JIT and the interpreter, in worker subprocesses.

    python tests/resource/fuzz.py [--cases N] [--first K] [--jobs J] [--seed S]

DBT_FUZZ_CASES sets the default number of cases (the long campaign uses
100000). A case passes when both engines end it the same allowed way (the
stop address, the budget, a guest fault with an x86 vector, or a syscall
exit) with identical registers, flags, x87/SSE state, instruction count and
memory. A Python exception, a disagreement, a worker killed by a signal
(a host crash) or a case that runs past CASE_TIMEOUT seconds is a failure,
printed as one line with everything needed to replay the case.
"""
from __future__ import annotations

import argparse
import json
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from fuzzgen import CODE_ADDR, CODE_SIZE, DATA_ADDR, DATA_SIZE, EDGE_ADDR, SPACE, Case, CaseMaker  # noqa: E402

BATCH = 200                  # cases per worker process
CASE_TIMEOUT = 60.0          # seconds one case may take under both engines (a shared, slow machine)
STARTUP_TIMEOUT = 300.0      # seconds a worker may take to start or exit (dbt, LLVM) on a busy host
ALLOWED_STOPS = ("until", "budget", "fault", "syscall")
STATE_FIELDS = ("rip", "fs_base", "gs_base", "df", "eflags", "mxcsr", "fpu_cw", "fpu_sw",
                "fpu_tag", "fpu_top", "icount")


def run_engine(engine: str, case: Case) -> dict:
    """Run `case` under `engine`; the outcome (stop, fault, state, memory) as a dict."""
    from dbt.api import Emulator
    from dbt.ir.exits import Vector
    from dbt.runtime.cpu import GPR_NAMES

    emu = Emulator(engine=engine, memory_size=SPACE)
    try:
        emu.map(CODE_ADDR, CODE_SIZE, "rw")
        emu.write(CODE_ADDR, case.code + case.fill)
        emu.mem.protect(CODE_ADDR, CODE_SIZE, case.code_perms)
        emu.map(DATA_ADDR, DATA_SIZE, "rw")
        emu.write(DATA_ADDR, case.data)
        for page, perms in enumerate(case.data_perms):
            emu.mem.protect(DATA_ADDR + page * 0x1000, 0x1000, perms)
        emu.map(EDGE_ADDR, 0x1000, "rw")
        emu.write(EDGE_ADDR, case.data[:0x1000])
        for name, value in case.regs.items():
            emu.reg_write(name, value)
        emu.rflags = case.rflags
        for i, value in enumerate(case.xmm):
            emu.cpu.xmm[i] = value
        emu.cpu.fpu_cw = case.fpu_cw
        stop = emu.run(start=CODE_ADDR, until=CODE_ADDR + len(case.code), max_insns=case.max_insns)
        out = {"stop": stop.reason}
        if stop.fault is not None:
            f = stop.fault
            if f.vector not in set(Vector) - {Vector.CODE_WRITE}:
                out["bad_vector"] = f.vector
            out["fault"] = (f.vector, f.addr, f.write, f.pc, f.software, f.error)
        cpu = emu.cpu
        out |= {name: getattr(cpu, name) for name in GPR_NAMES + STATE_FIELDS}
        out["rflags"] = emu.rflags
        out["xmm"] = list(cpu.xmm)
        out["st"] = [bytes(cpu.st[16 * i:16 * i + 10]).hex() for i in range(8)]
        out["memory"] = (emu.read(CODE_ADDR, CODE_SIZE) + emu.read(DATA_ADDR, DATA_SIZE)
                         + emu.read(EDGE_ADDR, 0x1000))
        return out
    finally:
        emu.mem.close()


def compare(jit: dict, interp: dict) -> list[str]:
    """What is wrong with one case's pair of outcomes (empty: it passed)."""
    problems = [f"{engine}: stopped with {o['stop']!r}" for engine, o in (("jit", jit), ("interp", interp))
                if o["stop"] not in ALLOWED_STOPS]
    problems += [f"{engine}: fault vector {o['bad_vector']}" for engine, o in (("jit", jit), ("interp", interp))
                 if "bad_vector" in o]
    for key in jit.keys() | interp.keys():
        a, b = jit.get(key), interp.get(key)
        if a == b:
            continue
        if key == "memory":
            first = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
            problems.append(f"memory differs first at region offset {first:#x}: jit {a[first]:#x} "
                            f"interp {b[first]:#x}")
        elif isinstance(a, int) and isinstance(b, int):
            problems.append(f"{key}: jit {a:#x} interp {b:#x}")
        else:
            problems.append(f"{key}: jit {a!r} interp {b!r}")
    return problems


def check_case(case: Case) -> tuple[str, list[str]]:
    """(the jit's stop reason, the problems) for one case; an escaping exception is a problem."""
    try:
        jit = run_engine("jit", case)
        interp = run_engine("interp", case)
    except Exception as exc:     # a Python exception escaping the engine is exactly what we hunt
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return "exception", [f"{type(exc).__name__}: {exc} (at {where.filename}:{where.lineno})"]
    return jit["stop"], compare(jit, interp)


def worker(first: int, count: int, seed: int) -> None:
    """Run cases first..first+count-1, one JSON line before and after each (for the supervisor).
    DBT_FUZZ_SELFTEST=crash:N or hang:N makes case N crash or hang the worker (to test the
    supervisor)."""
    maker = CaseMaker(seed)
    selftest, _, at = os.environ.get("DBT_FUZZ_SELFTEST", "").partition(":")
    for number in range(first, first + count):
        print(json.dumps({"begin": number}), flush=True)
        if at and number == int(at) and selftest == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        if at and number == int(at) and selftest == "hang":
            time.sleep(3600)
        case = maker.make(number)
        stop, problems = check_case(case)
        line = {"case": number, "stop": stop}
        if problems:
            line |= {"problems": problems, "describe": case.describe()}
        print(json.dumps(line), flush=True)


class WorkerLines:
    """The lines a worker prints, read unbuffered so that waiting for the next one with a
    timeout never misses a line already read along with the one before."""

    def __init__(self, fd: int):
        self.fd, self.pending = fd, b""

    def next(self, timeout: float) -> tuple[bool, bytes]:
        """(True, line) or (True, b"") at end of output; (False, b"") after `timeout` seconds."""
        while b"\n" not in self.pending:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                return False, b""
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                line, self.pending = self.pending, b""
                return True, line
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return True, line + b"\n"


def run_batch(first: int, count: int, seed: int) -> tuple[dict[str, int], list[str]]:
    """Run one batch in a subprocess; (stop counts, failure lines). Survives crashes and hangs."""
    stops: dict[str, int] = {}
    failures: list[str] = []
    number, end = first, first + count
    while number < end:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--first", str(number),
               "--cases", str(end - number), "--seed", str(seed)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lines = WorkerLines(proc.stdout.fileno())
        current = None
        while True:
            # outside a case (the worker's start-up: imports, LLVM; its exit) is not a case: on a
            # busy host it may take long
            ready, line = lines.next(CASE_TIMEOUT if current is not None else STARTUP_TIMEOUT)
            if not ready and current is None:
                proc.kill()
                proc.wait()
                failures.append(f"worker from case {number}: no output for {STARTUP_TIMEOUT:.0f} s outside a case")
                return stops, failures
            if not ready:
                proc.kill()
                proc.wait()
                failures.append(f"case {current}: hang (no result after {CASE_TIMEOUT:.0f} s): "
                                f"{CaseMaker(seed).make(current).describe()}")
                break
            if not line:
                break
            record = json.loads(line)
            if "begin" in record:
                current = record["begin"]
                continue
            current = None
            stops[record["stop"]] = stops.get(record["stop"], 0) + 1
            if "problems" in record:
                failures.append(f"{record['describe']}: " + "; ".join(record["problems"]))
        err = proc.stderr.read().decode(errors="replace")
        status = proc.wait()
        if current is None and status != 0:
            failures.append(f"worker from case {number} failed with status {status}: {err.strip()[-500:]}")
            break
        if current is not None:
            if status != -9:      # not our kill: the worker died (a host crash)
                failures.append(f"case {current}: host crash (status {status}): {err.strip()[-300:]} "
                                f"{CaseMaker(seed).make(current).describe()}")
            number = current + 1
        else:
            number = end
    return stops, failures


def campaign(cases: int, first: int = 0, jobs: int = 1, seed: int = 0,
             progress=None) -> tuple[dict[str, int], list[str]]:
    """Run `cases` cases in batches on `jobs` worker processes; (stop counts, failures).
    `progress(text)`, if given, hears after each batch how many cases have run."""
    batches = [(start, min(BATCH, first + cases - start), seed) for start in range(first, first + cases, BATCH)]
    stops: dict[str, int] = {}
    failures: list[str] = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for batch_stops, batch_failures in pool.map(lambda b: run_batch(*b), batches):
            for reason, n in batch_stops.items():
                stops[reason] = stops.get(reason, 0) + n
            failures += batch_failures
            if progress is not None:
                progress(f"fuzz: {sum(stops.values())} cases run, {len(failures)} failures so far")
    return stops, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=int(os.environ.get("DBT_FUZZ_CASES", "1000")))
    parser.add_argument("--first", type=int, default=0, help="number of the first case")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes at once")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ns = parser.parse_args(argv)
    if ns.worker:
        worker(ns.first, ns.cases, ns.seed)
        return 0
    t0 = time.monotonic()
    stops, failures = campaign(ns.cases, ns.first, ns.jobs, ns.seed,
                               progress=lambda text: print(text, file=sys.stderr, flush=True))
    for failure in failures:
        print(failure)
    counts = ", ".join(f"{reason} {n}" for reason, n in sorted(stops.items()))
    print(f"fuzz: {sum(stops.values())} cases ({counts}), {len(failures)} failures, "
          f"{time.monotonic() - t0:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
