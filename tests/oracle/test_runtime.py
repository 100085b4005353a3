"""Runtime contracts checked against the host CPU or between engines:
self-modifying code, exact instruction budgets, exit_request, guest faults, chaining."""
import threading

import pytest

from dbt.api import Emulator
from dbt.ir.exits import Vector

from .harness import check
from .native import CODE_ADDR, DATA_ADDR, assemble

ENGINES = ("jit", "interp")


def emulator(engine: str, code: bytes, regions: str | None = None) -> Emulator:
    emu = Emulator(engine, regions=regions)
    emu.map(CODE_ADDR, 0x10000, "rwx")
    emu.map(DATA_ADDR, 0x10000, "rw")
    emu.write(CODE_ADDR, code)
    emu.reg_write("rsp", DATA_ADDR + 0x8000)
    return emu


# `mov ecx, 5` is 5 bytes, so the immediate of `mov eax, 1` is at CODE_ADDR + 6.
# (Absolute addresses: keystone mis-assembles `[rip + label - label]`.)
SMC_PATCH_IMMEDIATE = f"""
    mov ecx, 5
loop_top:
    mov eax, 1
    add ebx, eax
    inc dword ptr [{CODE_ADDR + 6:#x}]
    dec ecx
    jnz loop_top
"""


def test_self_modifying_code_matches_host():
    # The patched `mov eax, imm` sits in the block that patches it and is re-run after.
    check(SMC_PATCH_IMMEDIATE, regs={"rbx": 0})


def test_self_modifying_code_invalidates_blocks():
    code = assemble(SMC_PATCH_IMMEDIATE)
    for engine in ENGINES:
        emu = emulator(engine, code)
        emu.reg_write("rbx", 0)
        assert emu.run(CODE_ADDR, until=CODE_ADDR + len(code)).reason == "until"
        assert emu.reg_read("rbx") == 1 + 2 + 3 + 4 + 5
        assert emu.stats.counters["blocks_invalidated"] >= 4


def test_store_over_the_next_instruction_in_the_same_block():
    # Overwrite the following `mov eax, 1` with `mov eax, 2` before it runs.
    store_len = len(assemble(f"mov byte ptr [{CODE_ADDR:#x}], 2"))
    check(f"mov byte ptr [{CODE_ADDR + store_len + 1:#x}], 2; mov eax, 1")


LOOP = "xor eax, eax; mov ecx, 1000; top: add eax, ecx; dec ecx; jnz top; mov ebx, eax"


@pytest.mark.parametrize("budget", [0, 1, 2, 3, 5, 100, 2001, 3002])
def test_budget_is_exact_and_engines_agree(budget):
    code = assemble(LOOP)
    states = []
    for engine in ENGINES:
        emu = emulator(engine, code)
        stop = emu.run(CODE_ADDR, until=CODE_ADDR + len(code), max_insns=budget)
        assert stop.reason == "budget"
        assert emu.cpu.icount == budget
        states.append((emu.reg_read("rip"), emu.reg_read("rax"), emu.reg_read("rcx"), emu.rflags))
    assert states[0] == states[1]


def test_budget_larger_than_the_run_lets_it_finish():
    code = assemble(LOOP)
    emu = emulator("jit", code)
    assert emu.run(CODE_ADDR, until=CODE_ADDR + len(code), max_insns=10**6).reason == "until"
    assert emu.cpu.icount == 2 + 3 * 1000 + 1


@pytest.mark.parametrize("engine", ENGINES)
def test_exit_request_stops_a_spinning_guest(engine):
    code = assemble("spin: inc rax; jmp spin")
    emu = emulator(engine, code)
    timer = threading.Timer(0.2, emu.cpu.request_exit)
    timer.start()
    stop = emu.run(CODE_ADDR)
    timer.join()
    assert stop.reason == "interrupt"
    assert emu.reg_read("rax") > 0 and emu.reg_read("rip") == CODE_ADDR


def test_limit_is_the_budget_or_zero_while_an_exit_is_requested():
    """Translated code checks cpu.limit alone at block entry: it must be 0 whenever
    exit_request is set, whatever order the budget and the request come in."""
    from dbt.runtime.cpu import new_cpu
    cpu = new_cpu()
    assert cpu.limit == cpu.budget == (1 << 64) - 1
    cpu.set_budget(1000)
    assert cpu.limit == 1000
    cpu.request_exit()
    assert cpu.limit == 0
    cpu.set_budget(2000)
    assert (cpu.budget, cpu.limit) == (2000, 0)
    cpu.clear_exit_request()
    assert (cpu.exit_request, cpu.limit) == (0, 2000)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_budget_spent_while_an_exit_is_requested_stops_as_an_interrupt(engine):
    """Both at once: the request wins (as the interpreter checks it first), at the same
    instruction under either engine."""
    code = assemble("spin: inc rax; jmp spin")
    emu = emulator(engine, code)
    emu.cpu.request_exit()
    stop = emu.run(CODE_ADDR, max_insns=0)
    assert stop.reason == "interrupt" and emu.reg_read("rax") == 0


FAULTS = [
    ("mov rax, [0x10]", Vector.PF, 0x10, False),                          # unmapped page
    ("mov rax, 0xfffffffffffffff8; mov rbx, [rax]", Vector.PF, 0xfffffffffffffff8, False),   # near 2^64
    # crosses into an unmapped page: the first inaccessible byte is reported, as CR2 holds it
    (f"mov rax, {DATA_ADDR + 0x10000 - 4}; mov rbx, [rax]", Vector.PF, DATA_ADDR + 0x10000, False),
    # a group of accesses whose span crosses into it: the first load is done, the second faults
    (f"mov rax, {DATA_ADDR + 0x10000 - 12}; mov rbx, [rax]; mov rcx, [rax + 8]", Vector.PF, DATA_ADDR + 0x10000,
     False),
    (f"mov rax, {CODE_ADDR + 0x20000}; mov dword ptr [rax], 1", Vector.PF, CODE_ADDR + 0x20000, True),  # read-only page
    ("xor ecx, ecx; div ecx", Vector.DE, None, False),
    ("ud2", Vector.UD, None, False),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("asm, vector, addr, write", FAULTS)
def test_guest_faults_are_precise(engine, asm, vector, addr, write):
    code = assemble("mov rdx, 7; " + asm)
    emu = emulator(engine, code)
    emu.map(CODE_ADDR + 0x20000, 0x1000, "r")
    stop = emu.run(CODE_ADDR, until=CODE_ADDR + len(code))
    assert stop.reason == "fault" and stop.fault.vector == vector
    if addr is not None:
        assert stop.fault.addr == addr and stop.fault.write == write
    last = len(assemble("mov rdx, 7; " + asm.rsplit(";", 1)[0])) if ";" in asm else len(assemble("mov rdx, 7"))
    assert emu.reg_read("rip") == CODE_ADDR + last        # the faulting instruction
    assert emu.reg_read("rdx") == 7                      # earlier instructions retired
    assert emu.cpu.icount == asm.count(";") + 1


@pytest.mark.parametrize("engine", ENGINES)
def test_jump_to_non_executable_page_faults_at_target(engine):
    code = assemble(f"mov rax, {DATA_ADDR}; jmp rax")
    emu = emulator(engine, code)
    stop = emu.run(CODE_ADDR, until=CODE_ADDR + len(code))
    assert stop.reason == "fault" and stop.fault.addr == DATA_ADDR and emu.reg_read("rip") == DATA_ADDR


@pytest.mark.parametrize("regions", ["off", "on"])
def test_calls_and_returns_chain_natively(regions):
    """Without regions the first tier's blocks chain (calls) and hit the jump cache (returns);
    with them the loop becomes one region whose branches are plain (and not counted)."""
    code = assemble("""
        mov ecx, 10000
    top:
        call f
        dec ecx
        jnz top
        jmp done
    f:
        add rax, rcx
        ret
    done:
    """)
    emu = emulator("jit", code, regions)
    assert emu.run(CODE_ADDR, until=CODE_ADDR + len(code)).reason == "until"
    exits = sum(v for k, v in emu.stats.counters.items() if k.startswith("exit_"))
    assert emu.cpu.icount == 1 + 10000 * 5 + 1
    assert exits < 20
    if regions == "off":
        assert emu.cpu.chain_count > 19000 and emu.cpu.jc_hits > 9000
    else:
        assert emu.stats.counters["regions_compiled"] >= 1


@pytest.mark.parametrize("engine", ENGINES)
def test_fs_and_gs_based_addressing(engine):
    # Not oracle-checked: changing the test process's own FS base would break its TLS.
    # The expectation comes from the bytes written, not from dbt.
    code = assemble("mov rax, qword ptr fs:[8]; mov qword ptr gs:[rbx + 16], rax; mov ecx, dword ptr fs:[0]")
    emu = emulator(engine, code)
    emu.write(DATA_ADDR, bytes(range(64)))
    emu.reg_write("fs_base", DATA_ADDR)
    emu.reg_write("gs_base", DATA_ADDR + 0x100)
    emu.reg_write("rbx", 8)
    assert emu.run(CODE_ADDR, until=CODE_ADDR + len(code)).reason == "until"
    assert emu.reg_read("rax") == int.from_bytes(bytes(range(8, 16)), "little")
    assert emu.read(DATA_ADDR + 0x118, 8) == bytes(range(8, 16))
    assert emu.reg_read("rcx") == int.from_bytes(bytes(range(4)), "little")


def test_a_group_of_accesses_crossing_a_page_matches_host():
    """Loads and a store near one root whose span crosses from one data page into the next
    (both mapped): the span's second page is looked up on the crossing path only."""
    check(f"mov rax, {DATA_ADDR + 0x1000 - 12}; mov rbx, [rax]; mov rcx, [rax + 8]; add [rax + 4], ecx;"
          f" mov rdx, [rax + 16]")
