"""Memory isolation: the guest never reaches host memory outside its own space.

1. src/isolation.c probes the edges of the address space, straddles pages of
   mixed permissions, runs code from a non-executable page, writes after
   mprotect(PROT_READ), maps over its own code and hands bad pointers to
   syscalls; its output (signal, si_code, si_addr / errno per probe) under
   both engines, with every block compiled at once, and under --check must
   equal the native run's.
2. Sentinel pages with a known pattern lie right below and right above the
   guest space (below: the guard page before it in its reservation, made
   readable and writable for the test; above: mapped with MAP_FIXED_NOREPLACE
   right after the reservation, found by reserving a hole); hostile accesses of every width at
   and across both edges must fault, never load the pattern, and leave the
   sentinels intact, under both engines.
"""
import ctypes
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dbt.api import Emulator
from dbt.runtime.memory import DEFAULT_SPACE, GUARD
from oracle.native import assemble

SRC = Path(__file__).resolve().parent / "src"
ENGINES = ("jit", "interp")
PAGE = 0x1000
PATTERN = bytes(range(0xA0, 0xB0)) * (PAGE // 16)     # no two sentinel bytes alike in 16
PROT_NONE, PROT_RW = 0, 3
MAP_PRIVATE, MAP_ANONYMOUS, MAP_NORESERVE, MAP_FIXED_NOREPLACE = 0x02, 0x20, 0x4000, 0x100000
MASK64 = (1 << 64) - 1
CODE_ADDR = 0x10000
SLACK = 256 << 20


@pytest.fixture(scope="module")
def isolation_runs(tmp_path_factory):
    """Native stdout of src/isolation.c, and dbt's under each engine."""
    compiler = shutil.which("musl-gcc")
    if compiler is None:
        pytest.fail("musl-gcc is required to build the isolation probe")
    prog = tmp_path_factory.mktemp("isolation") / "isolation"
    subprocess.run([compiler, "-O2", "-static", "-no-pie", "-w", "-o", str(prog), str(SRC / "isolation.c")],
                   check=True)
    runs = {"native": subprocess.run([str(prog)], capture_output=True, timeout=60)}
    for engine in ENGINES:
        runs[engine] = subprocess.run([sys.executable, "-m", "dbt", "run", "--engine", engine, str(prog)],
                                      capture_output=True, timeout=600)
    runs["jit-first"] = subprocess.run([sys.executable, "-m", "dbt", "run", "--jit-after", "1", "--no-cache",
                                        "--stats", str(prog)], capture_output=True, timeout=600)
    runs["check"] = subprocess.run([sys.executable, "-m", "dbt", "run", "--check", str(prog)],
                                   capture_output=True, timeout=600)
    return runs


def test_probes_in_lockstep_end_as_on_linux(isolation_runs):
    """`dbt run --check` runs every block in both engines and compares them: no divergence,
    and the faults of instruction fetches and grouped accesses are the native ones."""
    native, got = isolation_runs["native"], isolation_runs["check"]
    assert got.stderr == b""
    assert got.stdout.decode() == native.stdout.decode()
    assert got.returncode == native.returncode


def test_probes_compiled_at_once_end_as_on_linux(isolation_runs):
    """With every block compiled on its first run (no tier 0), the probes run native code,
    grouped accesses (dbt/backend/llvm/access_groups.py) included."""
    native, got = isolation_runs["native"], isolation_runs["jit-first"]
    assert got.stdout.decode() == native.stdout.decode()
    assert got.returncode == native.returncode
    stats = got.stderr.decode()
    assert "Traceback" not in stats and "access_group_steps" in stats, stats


@pytest.mark.parametrize("engine", ENGINES)
def test_probes_end_as_on_linux(isolation_runs, engine):
    native, got = isolation_runs["native"], isolation_runs[engine]
    assert native.returncode == 0 and b"signo 11 code 128" in native.stdout   # the probe itself works
    assert got.stderr == b""
    assert got.stdout.decode() == native.stdout.decode()
    assert got.returncode == native.returncode


# -- sentinels around the guest reservation ---------------------------------------------------

def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                          ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc


def _map(libc, addr, size, prot, flags) -> int | None:
    got = libc.mmap(addr, size, prot, flags | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    return None if got in (None, MASK64) else got


class Sentinels:
    """Two host pages holding PATTERN, right below and right above an Emulator's guest space.
    The low one is the guard page before guest address 0 in the same reservation
    (dbt/runtime/memory.py), made readable and writable; the high one is mapped right after
    the reservation (past the guard page after the space)."""

    def __init__(self, engine: str, size: int = DEFAULT_SPACE - PAGE):
        """`size` is not a multiple of 2 MiB: Linux aligns such mappings to huge pages, which
        would move the reservation off the gap before the high sentinel."""
        self.libc = _libc()
        plugs = []              # gaps a reservation went to instead of the hole, kept mapped
        try:
            self._place(engine, size, plugs)
        finally:
            for plug in plugs:
                self.libc.munmap(plug, GUARD + size + GUARD)
        self.low = self.emu.mem.base - PAGE
        assert self.libc.mprotect(self.low, PAGE, PROT_RW) == 0
        ctypes.memmove(self.low, PATTERN, PAGE)

    def _place(self, engine: str, size: int, plugs: list) -> None:
        reserved = GUARD + size + GUARD
        for _attempt in range(16):
            # A free hole: reservation | high sentinel | slack. The kernel hands out addresses
            # top-down, so small mappings made while the Emulator is built land in the slack,
            # and the reservation in the gap of exactly its size below the sentinel.
            total = reserved + PAGE + SLACK
            hole = _map(self.libc, None, total, PROT_NONE, MAP_NORESERVE)
            assert hole is not None
            self.libc.munmap(hole, total)
            self.high = _map(self.libc, hole + reserved, PAGE, PROT_RW, MAP_FIXED_NOREPLACE)
            if self.high == hole + reserved:
                self.emu = Emulator(engine=engine, memory_size=size)
                if self.emu.mem.base + size + GUARD != self.high:
                    # the reservation went elsewhere (a busy process): try the page after it
                    self.libc.munmap(self.high, PAGE)
                    self.high = _map(self.libc, self.emu.mem.base + size + GUARD, PAGE, PROT_RW, MAP_FIXED_NOREPLACE)
                if self.high == self.emu.mem.base + size + GUARD:
                    ctypes.memmove(self.high, PATTERN, PAGE)
                    return
                start = self.emu.mem.base - GUARD
                self.emu.mem.close()
                # a free gap that fits the reservation but not the hole (an earlier Emulator's,
                # freed) takes it every time: fill it, so that the next try goes to the hole
                plug = _map(self.libc, start, reserved, PROT_NONE, MAP_FIXED_NOREPLACE | MAP_NORESERVE)
                if plug is not None:
                    plugs.append(plug)
            if self.high is not None:
                self.libc.munmap(self.high, PAGE)
        pytest.fail("could not place a sentinel page right after the guest reservation")

    def intact(self) -> bool:
        return ctypes.string_at(self.low, PAGE) == PATTERN and ctypes.string_at(self.high, PAGE) == PATTERN

    def close(self) -> None:
        self.emu.mem.close()
        self.libc.munmap(self.high, PAGE)


# (assembly, registers): each accesses bytes outside [0, size) next to a mapped edge page
# (an access at size - k with k below its width crosses the end; one at -k is below 0).
def hostile_cases(size: int) -> list[tuple[str, dict[str, int]]]:
    cases = []
    for k in (1, 2, 3, 4, 7, 8, 9, 15, 16):
        for reg, width, nbytes in (("al", "byte", 1), ("ax", "word", 2), ("eax", "dword", 4), ("rax", "qword", 8)):
            if k < nbytes:
                cases.append((f"mov {reg}, {width} ptr [rbx]", {"rbx": size - k}))
                cases.append((f"mov {width} ptr [rbx], {reg}", {"rbx": size - k, "rax": MASK64}))
            cases.append((f"mov {reg}, {width} ptr [rbx]", {"rbx": (-k) & MASK64}))
            cases.append((f"mov {width} ptr [rbx], {reg}", {"rbx": (-k) & MASK64, "rax": MASK64}))
        if k < 16:
            cases.append(("movdqu xmm0, xmmword ptr [rbx]; movq rax, xmm0; psrldq xmm0, 8; movq rcx, xmm0",
                          {"rbx": size - k}))
            cases.append(("movdqu xmmword ptr [rbx], xmm1", {"rbx": size - k}))
        if k < 10:
            cases.append(("fld tbyte ptr [rbx]; fstp qword ptr [rdx]; mov rax, qword ptr [rdx]",
                          {"rbx": size - k, "rdx": size - PAGE}))
        if k < 8:
            cases.append(("add qword ptr [rbx + rcx*8], rax", {"rbx": size - k, "rcx": 0, "rax": 1}))
        cases.append(("movdqu xmm0, xmmword ptr [rbx]; movq rax, xmm0", {"rbx": (-k) & MASK64}))
        cases.append(("mov rax, qword ptr [rbx + rcx*8]", {"rbx": 0, "rcx": (-k) & MASK64}))
    cases += [
        ("rep stosb", {"rdi": size - 64, "rcx": 128, "rax": 0x5A}),
        ("std; rep stosb; cld", {"rdi": 63, "rcx": 128, "rax": 0x5A}),
        ("rep movsb", {"rsi": size - 64, "rdi": size - 2 * PAGE, "rcx": 128}),
        ("std; rep movsq; cld", {"rsi": 56, "rdi": size - 2 * PAGE, "rcx": 16}),
        ("push rax", {"rsp": 4, "rax": MASK64}),
        ("pop rax; pop rax", {"rsp": size - 8}),
        ("lodsq; lodsq", {"rsi": size - 8}),
        ("cmpxchg16b xmmword ptr [rbx]", {"rbx": size - 8}),
        ("xchg qword ptr [rbx], rax", {"rbx": size - 4}),
        ("jmp rbx", {"rbx": size}),
        ("jmp rbx", {"rbx": MASK64}),
    ]
    return cases


@pytest.mark.parametrize("engine", ENGINES)
def test_sentinels_survive_hostile_accesses(engine):
    guard = Sentinels(engine)
    emu, size = guard.emu, guard.emu.mem.size
    try:
        emu.map(0, PAGE, "rw")                    # the first and the last guest pages are mapped:
        emu.map(size - 2 * PAGE, 2 * PAGE, "rw")  # only the bounds check stands between them and host
        emu.map(CODE_ADDR, PAGE, "rx")
        failures = []
        for asm, regs in hostile_cases(size):
            code = assemble(asm, CODE_ADDR)
            emu.write(CODE_ADDR, code + b"\xcc" * (PAGE - len(code)))
            for name in ("rax", "rcx", "rdx", "rbx", "rsi", "rdi", "rsp"):
                emu.reg_write(name, regs.get(name, 0))
            emu.rflags = 0x2                      # DF clear: a faulting 'std; ...; cld' leaves it set
            stop = emu.run(start=CODE_ADDR, until=CODE_ADDR + len(code), max_insns=10_000)
            leaked = [name for name in ("rax", "rcx")     # a sentinel byte (0xa0-0xaf) read into a register
                      if any(0xA0 <= b <= 0xAF for b in emu.reg_read(name).to_bytes(8, "little"))]
            if stop.reason != "fault" or leaked or not guard.intact():
                failures.append(f"{asm} {regs}: stop {stop.reason}, leaked {leaked}, "
                                f"sentinels intact {guard.intact()}")
        assert not failures, "\n".join(failures)
        assert guard.intact()
    finally:
        guard.close()


# -- regressions: the fault address (CR2, si_addr) at the edges, in-process ---------------------

def run_one(engine: str, asm: str, regs: dict[str, int], maps=(), at: int = CODE_ADDR):
    """Run `asm` placed at `at` on a fresh Emulator; the Stop."""
    emu = Emulator(engine=engine)
    for addr, size, perms in ((CODE_ADDR, PAGE, "rx"), *maps):
        emu.map(addr, size, perms)
    code = assemble(asm, at) if isinstance(asm, str) else asm
    emu.mem.poke(at, code)
    for name, value in regs.items():
        emu.reg_write(name, value)
    try:
        return emu.run(start=at, until=at + len(code), max_insns=100)
    finally:
        emu.mem.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_fault_address_crossing_the_space_end(engine):
    """As on the CPU (see the native run of isolation.c): the first byte that cannot be accessed."""
    size = DEFAULT_SPACE
    last_page = (size - PAGE, PAGE, "rw")
    stop = run_one(engine, "mov rax, qword ptr [rbx]", {"rbx": size - 4})
    assert (stop.reason, stop.fault.addr) == ("fault", size - 4)       # its own page is unmapped
    stop = run_one(engine, "mov rax, qword ptr [rbx]", {"rbx": size - 4}, [last_page])
    assert (stop.reason, stop.fault.addr) == ("fault", size)           # only the part past the end
    stop = run_one(engine, "mov qword ptr [rbx], rax", {"rbx": (1 << 47) - 4})
    assert (stop.reason, stop.fault.addr) == ("fault", 1 << 47)        # non-canonical: #GP first


@pytest.mark.parametrize("engine", ENGINES)
def test_instruction_cut_by_a_non_executable_page_faults_there(engine):
    """movabs rax, imm64 starting 2 bytes before a page that cannot be fetched: #PF on that page."""
    start = CODE_ADDR + PAGE - 2
    movabs = bytes.fromhex("48b8") + bytes(range(1, 9))
    for maps in ([], [(CODE_ADDR + PAGE, PAGE, "rw")]):
        stop = run_one(engine, movabs, {}, maps, at=start)
        assert (stop.reason, stop.fault.vector, stop.fault.addr, stop.fault.pc) == \
            ("fault", 14, CODE_ADDR + PAGE, start)
    stop = run_one(engine, movabs, {}, [(CODE_ADDR + PAGE, PAGE, "rx")], at=start)
    assert stop.reason == "until"
