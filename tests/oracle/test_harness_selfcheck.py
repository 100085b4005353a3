"""First oracle checks through dbt (they need dbt.api), and the undefined-flag table."""
from __future__ import annotations

import pytest

from .harness import check, default_regs, diff_states
from .native import CODE_ADDR, DATA_ADDR, DATA_SIZE, MachineState, assemble, run_native
from .undefined_flags import (AF, CF, OF, PF, SF, STATUS_FLAGS, ZF, sequence_undefined_mask,
                              undefined_mask)


def test_mov():
    check("mov rax, rbx; mov ecx, 0x12345678; mov dx, 0x7fff; mov sil, 0x80")


def test_add():
    check("add rax, rbx", regs={"rax": 0x7FFFFFFFFFFFFFFF, "rbx": 1})
    check("add eax, ebx; add cl, dl")


def test_sub():
    check("sub rax, rbx", regs={"rax": 1, "rbx": 2})
    check("sub eax, 0x10; sub r8w, r9w")


@pytest.mark.parametrize("cond", ["e", "ne", "b", "ae", "l", "ge", "le", "g", "s", "o", "p"])
def test_cmp_setcc(cond):
    for a, b in [(1, 2), (2, 1), (5, 5), (0x8000000000000000, 1)]:
        check(f"cmp rax, rbx; set{cond} cl", regs={"rax": a, "rbx": b})


def test_memory_store():
    check("mov [rdi + 8], rax; push rbx; pop rdx", regs={"rdi": DATA_ADDR})


def test_diff_is_readable():
    native = MachineState(regs=default_regs(), rflags=0x2 | CF, data=bytes(16))
    guest = MachineState(regs=default_regs() | {"rax": 5}, rflags=0x2 | ZF,
                         data=bytes(15) + b"\x01")
    text = "\n".join(diff_states(native, guest, STATUS_FLAGS))
    assert "rax: native 0x9e3779b97f4a7c15  engine 0x0000000000000005" in text
    assert "native CF  engine ZF  (differ: CF ZF)" in text
    assert f"[{DATA_ADDR + 15:#x}] (data+0xf): native 0x00  engine 0x01" in text


def test_undefined_mask_table():
    assert undefined_mask("add") == 0
    assert undefined_mask("lock and") == AF
    assert undefined_mask("mul") == undefined_mask("imul") == SF | ZF | AF | PF
    assert undefined_mask("idiv") == STATUS_FLAGS
    assert undefined_mask("shl", 1, 64) == AF
    assert undefined_mask("shr", 2, 64) == AF | OF
    assert undefined_mask("shl", 64, 64) == 0  # masked count 0: flags unchanged
    assert undefined_mask("shr", 9, 8) == CF | AF | OF
    assert undefined_mask("sar", 9, 8) == AF | OF
    assert undefined_mask("rcl", 1, 8) == 0 and undefined_mask("ror", 2, 32) == OF
    assert undefined_mask("shrd", 17, 16) == STATUS_FLAGS
    assert undefined_mask("popcnt") == 0


@pytest.mark.parametrize("asm, regs, want", [
    ("mul rbx; add rax, 1", None, 0),
    ("mul rbx; bt rax, 3", None, SF | ZF | AF | PF | OF),  # bt leaves ZF alone
    ("bsf rax, rbx; repe cmpsb", None, CF | OF | SF | AF | PF),  # rcx may be 0
    ("add rax, rbx; shl rax, cl", {"rcx": 64}, 0),
    ("add rax, rbx; shl rax, cl", None, AF | OF),
    ("imul rbx; jz x; popcnt rax, rax; x:", None, SF | ZF | AF | PF),
    ("and rax, rbx; mov ecx, 9; top: dec rcx; jnz top", None, 0),
])
def test_sequence_mask_takes_the_last_writer(asm, regs, want):
    assert sequence_undefined_mask(assemble(asm), CODE_ADDR, regs) == want


def test_native_side_of_check_runs_without_dbt():
    assert run_native(assemble("mov eax, 7"), {}, 0x2, bytes(DATA_SIZE)).regs["rax"] == 7
