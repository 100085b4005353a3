"""The Python API (dbt/api.py) and its hooks (dbt/runtime/hooks.py), under both engines.

Results are checked against the host CPU (tests/oracle/native.py runs the same bytes),
against facts the guest code makes plain (a loop of N iterations), and between engines.
Exit counters show which code left translated code: a hook must not make others exit.
"""
import sys
from pathlib import Path

import pytest

from dbt.api import Emulator
from dbt.frontend.x86.decode import new_decoder

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))      # the host-CPU oracle
from oracle.native import DATA_ADDR, DATA_SIZE, assemble, run_native  # noqa: E402
from oracle.undefined_flags import STATUS_FLAGS  # noqa: E402

ENGINES = ("jit", "interp")
CODE, DATA, STACK = 0x10000, 0x20000, 0x40000
N = 50

LOOP = """
    mov rcx, {n}
again:
    add rax, qword ptr [rsi]
    mov qword ptr [rsi + 8], rax
    mov rdx, qword ptr [rsi + 0x100]
    add rbx, rdx
    dec rcx
    jnz again
"""       # rsi: the data


def emulator(engine: str, source: str, data: bytes = b"") -> tuple[Emulator, bytes]:
    code = assemble(source, CODE)
    emu = Emulator(engine)
    emu.map(CODE, 0x1000, "rx")
    emu.map(DATA, 0x2000, "rw")
    emu.map(STACK - 0x1000, 0x1000, "rw")
    emu.write(CODE, code)
    emu.write(DATA, data)
    emu.reg_write("rsp", STACK - 8)
    emu.reg_write("rsi", DATA)
    return emu, code


def loop_data() -> bytes:
    data = bytearray(0x200)
    data[0:8] = (3).to_bytes(8, "little")
    data[0x100:0x108] = (5).to_bytes(8, "little")
    return bytes(data)


def end_of(code: bytes) -> int:
    return CODE + len(code)


@pytest.mark.parametrize("engine", ENGINES)
def test_block_hook_on_one_address_leaves_other_blocks_native(engine):
    emu, code = emulator(engine, LOOP.format(n=N), loop_data())
    loop_head = CODE + len(assemble(f"mov rcx, {N}", CODE))
    seen = []
    emu.hook_block(lambda emu, pc, size: seen.append((pc, size)), loop_head)
    stop = emu.run(start=CODE, until=end_of(code))
    assert stop.reason == "until"
    assert seen == [(loop_head, len(code) - (loop_head - CODE))] * N
    assert emu.stats.counters["exit_stop"] == N + 1          # the hooked block's entries, and `until`
    assert emu.reg_read("rax") == 3 * N and emu.reg_read("rbx") == 5 * N


@pytest.mark.parametrize("engine", ENGINES)
def test_results_with_hooks_match_the_host_cpu(engine):
    """Hooks that only look change nothing: registers, flags and memory as on the host."""
    source = LOOP.format(n=N)
    emu, code = emulator(engine, source, loop_data())
    emu.hook_block(lambda *a: None)
    emu.hook_mem(lambda *a: None, DATA, DATA + 0x200, "rwx")
    emu.hook_mem(lambda *a: None, CODE, CODE + 0x100, "x")
    emu.run(start=CODE, until=end_of(code))
    native_data = bytearray(DATA_SIZE)
    native_data[:0x200] = loop_data()
    native = run_native(assemble(source), {"rsi": DATA_ADDR}, 0x2, bytes(native_data))
    for reg in ("rax", "rbx", "rcx", "rdx"):
        assert emu.reg_read(reg) == native.regs[reg], reg
    assert emu.rflags & STATUS_FLAGS == native.rflags & STATUS_FLAGS
    assert emu.read(DATA, 0x200) == native.data[:0x200]


@pytest.mark.parametrize("engine", ENGINES)
def test_memory_hooks_see_exactly_their_range(engine):
    emu, code = emulator(engine, LOOP.format(n=N), loop_data())
    events = []
    emu.hook_mem(lambda emu, kind, addr, size, value: events.append((kind, addr, size, value)),
                 DATA + 8, DATA + 16, "rw")
    emu.run(start=CODE, until=end_of(code))
    assert events == [("write", DATA + 8, 8, 3 * i) for i in range(1, N + 1)]
    # the loads of DATA and DATA+0x100 share the watched page: they exit, no hook sees them
    assert emu.stats.counters["memory_hook_steps"] == 3 * N


@pytest.mark.parametrize("engine", ENGINES)
def test_read_hook_can_replace_the_value(engine):
    emu, code = emulator(engine, LOOP.format(n=N), loop_data())
    emu.hook_mem(lambda emu, kind, addr, size, value: value + 1, DATA + 0x100, DATA + 0x108, "r")
    emu.run(start=CODE, until=end_of(code))
    assert emu.reg_read("rbx") == 6 * N and emu.reg_read("rax") == 3 * N


@pytest.mark.parametrize("engine", ENGINES)
def test_fetch_hook_sees_each_instruction_of_its_range(engine):
    emu, code = emulator(engine, LOOP.format(n=N), loop_data())
    fetched = []
    begin = CODE + len(assemble(f"mov rcx, {N}", CODE))
    emu.hook_mem(lambda emu, kind, addr, size, value: fetched.append((kind, addr)), begin, end_of(code), "x")
    emu.run(start=CODE, until=end_of(code))
    assert len(fetched) == emu.cpu.icount - 1 == 6 * N
    assert {kind for kind, _ in fetched} == {"fetch"}
    assert fetched[:6] == [("fetch", a) for a in instruction_addresses(code)[1:]]


def instruction_addresses(code: bytes) -> list[int]:
    return [insn.address for insn in new_decoder().disasm(code, CODE)]


@pytest.mark.parametrize("engine", ENGINES)
def test_removed_hooks_cost_nothing_and_fire_no_more(engine):
    emu, code = emulator(engine, LOOP.format(n=N), loop_data())
    calls = []
    hooks = [emu.hook_block(lambda *a: calls.append("block")),
             emu.hook_mem(lambda *a: calls.append("mem"), DATA, DATA + 8, "r")]
    for hook in hooks:
        emu.remove_hook(hook)
    emu.run(start=CODE, until=end_of(code))
    assert calls == []
    assert emu.stats.counters["exit_stop"] == 1 and emu.stats.counters["memory_hook_steps"] == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_a_hook_can_stop_the_run_and_it_resumes(engine):
    emu, code = emulator(engine, LOOP.format(n=N), loop_data())

    def third_store(emu, kind, addr, size, value):
        if value == 9:
            emu.stop()
    hook = emu.hook_mem(third_store, DATA + 8, DATA + 16, "w")
    assert emu.run(start=CODE, until=end_of(code)).reason == "stopped"
    assert emu.reg_read("rax") == 9 and emu.read(DATA + 8, 8) == (9).to_bytes(8, "little")
    emu.remove_hook(hook)
    assert emu.run(until=end_of(code)).reason == "until"
    assert emu.reg_read("rax") == 3 * N


@pytest.mark.parametrize("engine", ENGINES)
def test_syscall_hooks_on_raw_code(engine):
    """Without an OS a syscall ends the run; a before-hook can answer it instead."""
    emu, code = emulator(engine, "mov eax, 39\nsyscall\nmov rbx, rax\nmov eax, 60\nsyscall")
    assert emu.run(start=CODE, until=end_of(code)).reason == "syscall"
    seen = []

    def answer(emu, call):
        seen.append((call.number, call.args[0]))
        call.skip(1000 + call.number)
    emu, code = emulator(engine, "mov edi, 7\nmov eax, 39\nsyscall\nmov rbx, rax\nmov eax, 60\nsyscall")
    emu.hook_syscall(answer)
    assert emu.run(start=CODE, until=end_of(code)).reason == "until"
    assert seen == [(39, 7), (60, 7)] and emu.reg_read("rbx") == 1039
    assert emu.reg_read("rcx") == end_of(code)          # as the syscall instruction leaves it


@pytest.mark.parametrize("engine", ENGINES)
def test_registers_round_trip(engine):
    emu, code = emulator(engine, "paddq xmm0, xmm1\nmovq rax, xmm0\nmovdqa xmm2, xmm0\npsrldq xmm2, 8\n"
                                 "movq rbx, xmm2\nstc")
    a, b = 0x1111_2222_3333_4444_FFFF_FFFF_FFFF_FFFF, 0x0000_0000_0000_0001_0000_0000_0000_0002
    emu.reg_write("xmm0", a)
    emu.reg_write("xmm1", b)
    emu.reg_write("fs_base", 0x1234)
    emu.reg_write("rflags", 0x2 | 0x40)              # ZF
    assert emu.reg_read("rflags") & 0xFF == 0x42
    assert emu.run(start=CODE, until=end_of(code)).reason == "until"
    lo = ((a & (2**64 - 1)) + (b & (2**64 - 1))) % 2**64
    hi = ((a >> 64) + (b >> 64)) % 2**64
    assert emu.reg_read("xmm0") == lo | hi << 64
    assert (emu.reg_read("rax"), emu.reg_read("rbx")) == (lo, hi)
    assert emu.reg_read("rflags") & 1 == 1 and emu.reg_read("fs_base") == 0x1234
    assert emu.reg_read("rip") == end_of(code)
    with pytest.raises(KeyError):
        emu.reg_read("xmm16")


def test_bad_hook_arguments_are_refused():
    emu = Emulator("interp")
    with pytest.raises(ValueError):
        emu.hook_mem(lambda *a: None, 0x2000, 0x1000)
    with pytest.raises(ValueError):
        emu.hook_mem(lambda *a: None, 0x1000, 0x2000, "q")
    hook = emu.hook_block(lambda *a: None, 0x1000)
    emu.remove_hook(hook)
    with pytest.raises(ValueError):
        emu.remove_hook(hook)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_faulting_store_reaches_no_hook_and_faults_as_without(engine):
    emu, code = emulator(engine, "mov qword ptr [rsi], 1\nmov qword ptr [rsi + 0x1000], 2")
    emu.mem.protect(DATA + 0x1000, 0x1000, "r")
    seen = []
    emu.hook_mem(lambda *event: seen.append(event[1:]), DATA, DATA + 0x2000, "w")
    stop = emu.run(start=CODE, until=end_of(code))
    assert stop.reason == "fault" and stop.fault.addr == DATA + 0x1000 and stop.fault.write
    assert seen == [("write", DATA, 8, 1)] and emu.reg_read("rip") == CODE + len(assemble("mov qword ptr [rsi], 1"))


@pytest.mark.parametrize("engine", ENGINES)
def test_a_memory_hook_on_another_page_makes_nothing_exit(engine):
    emu, code = emulator(engine, LOOP.format(n=N), loop_data())
    emu.hook_mem(lambda *event: pytest.fail("no access there"), DATA + 0x1000, DATA + 0x1008, "rw")
    emu.run(start=CODE, until=end_of(code))
    exits = {name: n for name, n in emu.stats.counters.items()      # translating, compiling regions
             if name.startswith("exit_") and name not in ("exit_miss", "exit_hot")}
    assert exits == {"exit_stop": 1} and emu.reg_read("rax") == 3 * N
