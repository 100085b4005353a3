"""Oracle tests for the flag-register instructions: lahf sahf pushf popf clc stc cmc cld std.

The host runs with IF set and the guest (as the harness starts it) with IF
clear, so every pushed image has IF masked in memory before it is popped.
Sequences that set AC (alignment check) clear it again before they end: the
host process must not return to Python with AC set.
"""
from __future__ import annotations

import random

import pytest

from .harness import check
from .native import DATA_ADDR
from .undefined_flags import AF, CF, DF, OF, PF, SF, ZF

ARITH = CF | PF | AF | ZF | SF | OF
TF, IF, NT, RF, VM, AC, VIF, VIP, ID = (1 << 8, 1 << 9, 1 << 14, 1 << 16, 1 << 17, 1 << 18,
                                        1 << 19, 1 << 20, 1 << 21)
IOPL = 3 << 12
NO_IF = "-0x201"      # and-mask that clears IF in a pushed image
_RNG = random.Random(0xF1A6)

FLAG_INPUTS = [0, ARITH, CF, ZF, SF | OF, PF | AF, ZF | CF | DF, DF, ARITH | DF] + [
    _RNG.getrandbits(12) & (ARITH | DF) for _ in range(3)]
# Operations that define every arithmetic flag, with operand pairs that vary them.
LAZY_OPS = ["add", "sub", "adc", "sbb", "cmp", "neg", "inc", "dec"]
LAZY_PAIRS = [(0, 0), (0x7FFFFFFFFFFFFFFF, 1), (1, 2), (0x8000000000000000, 0x8000000000000000),
              (0x0F, 0x01)]


def _lazy(op: str) -> str:
    return f"{op} rax" if op in ("neg", "inc", "dec") else f"{op} rax, rbx"


def _flags_id(value: int) -> str:
    return f"{value:#x}"


@pytest.mark.parametrize("rflags", FLAG_INPUTS, ids=_flags_id)
def test_pushfq_image(rflags):
    check(f"pushfq; and qword ptr [rsp], {NO_IF}; pop rbx", rflags=rflags)


@pytest.mark.parametrize("rflags", FLAG_INPUTS, ids=_flags_id)
def test_pushf16_image(rflags):
    check(f"pushf; and word ptr [rsp], {NO_IF}; pop bx", rflags=rflags)


@pytest.mark.parametrize("op", LAZY_OPS)
def test_pushfq_after_lazy_op(op):
    """pushf materialises flags recorded lazily by the previous instruction."""
    for a, b in LAZY_PAIRS:
        for cf in (0, CF):
            check(f"{_lazy(op)}; pushfq; and qword ptr [rsp], {NO_IF}; pop r8",
                  regs={"rax": a, "rbx": b}, rflags=cf)


def _popfq_then_read(value: int) -> str:
    """popfq `value`, read the whole image into rbx, then restore harmless flags from rcx."""
    return (f"movabs rax, {value:#x}; push rax; popfq; pushfq; and qword ptr [rsp], {NO_IF}; "
            "pop rbx; push rcx; popfq")


POPF_VALUES = [0, ARITH, ARITH | DF, DF | CF, AC, ID, NT, AC | ID | NT | ARITH | DF,
               # Bits a user-mode popf ignores: IF IOPL RF VM VIF VIP, reserved bits, bit 1.
               IF | IOPL | RF | VM | VIF | VIP, 0xFFFFFFFFFFFFFFFF & ~TF,
               0xFFC00000 | (1 << 3) | (1 << 5),
               (1 << 15) | ZF] + [_RNG.getrandbits(64) & ~TF for _ in range(4)]


@pytest.mark.parametrize("value", POPF_VALUES, ids=_flags_id)
def test_popfq(value):
    """Arithmetic flags, DF, NT, AC, ID are taken; the pushed image shows them; others ignored."""
    check(_popfq_then_read(value), regs={"rcx": value & (ARITH | DF)})


@pytest.mark.parametrize("value", POPF_VALUES, ids=_flags_id)
def test_popfq_flags_reach_conditions(value):
    keep = value & (ARITH | DF)
    check(f"mov rax, {keep:#x}; push rax; popfq; setb r8b; setz r9b; setl r10b; setbe r11b; "
          "setp r12b; seto r13b; sets r14b; setg r15b", rflags=ARITH ^ keep)


@pytest.mark.parametrize("value", [0, 0xFFFF & ~TF, ARITH | DF | NT, 0x8D5, IF | IOPL | 0x28],
                         ids=_flags_id)
def test_popf16_keeps_upper_bits(value):
    """16-bit popf replaces bits 0-15 only: AC and ID set before survive it."""
    check(f"movabs rax, {AC | ID | NT:#x}; push rax; popfq; mov ax, {value:#x}; push ax; popf; "
          f"pushfq; and qword ptr [rsp], {NO_IF}; pop rbx; push rcx; popfq",
          regs={"rcx": value & (ARITH | DF)})


@pytest.mark.parametrize("rflags", FLAG_INPUTS, ids=_flags_id)
def test_lahf(rflags):
    check("lahf; mov r8, rax; lahf", regs={"rax": 0x1122334455667788}, rflags=rflags)


@pytest.mark.parametrize("op", LAZY_OPS)
def test_lahf_after_lazy_op(op):
    for a, b in LAZY_PAIRS:
        check(f"{_lazy(op)}; lahf", regs={"rax": a, "rbx": b}, rflags=CF)


@pytest.mark.parametrize("rflags", [0, OF, ARITH, OF | DF], ids=_flags_id)
def test_sahf_every_ah(rflags):
    """All 256 AH values; OF (not in AH) is kept. Four values per check, read by pushfq."""
    regs = ("r8", "r9", "r10", "r11")
    for start in range(0, 256, 16):
        values = range(start, start + 16, 4)
        asm = "; ".join(f"mov rax, {v * 256 + 0x1d:#x}; sahf; setb r12b; pushfq; "
                        f"and qword ptr [rsp], {NO_IF}; pop {r}" for v, r in zip(values, regs))
        check(asm, rflags=rflags)


def test_sahf_after_lazy_op_keeps_of():
    for a, b in LAZY_PAIRS:
        check("add rax, rbx; mov ah, 0xd5; sahf; seto r8b; mov ah, 0; sahf",
              regs={"rax": a, "rbx": b})


@pytest.mark.parametrize("insn", ["clc", "stc", "cmc"])
@pytest.mark.parametrize("rflags", FLAG_INPUTS, ids=_flags_id)
def test_carry_insns(insn, rflags):
    check(f"{insn}; setc r8b; setz r9b; seto r10b", rflags=rflags)


@pytest.mark.parametrize("insn", ["clc", "stc", "cmc"])
@pytest.mark.parametrize("op", LAZY_OPS)
def test_carry_insns_after_lazy_op(insn, op):
    for a, b in LAZY_PAIRS[:3]:
        check(f"{_lazy(op)}; {insn}; adc r8, 0; setz r9b; sets r10b; setl r11b",
              regs={"rax": a, "rbx": b, "r8": 0})


def test_carry_sequence():
    check("stc; cmc; cmc; setc r8b; clc; cmc; adc r9, r10", regs={"r9": 5, "r10": 7})


@pytest.mark.parametrize("rflags", [0, DF, ARITH, ARITH | DF], ids=_flags_id)
def test_direction_flag(rflags):
    check("std", rflags=rflags)
    check("cld", rflags=rflags)
    check("std; pushfq; and qword ptr [rsp], -0x201; pop r8; cld; std; cld", rflags=rflags)


def test_direction_flag_reaches_string_ops():
    """std then a string op walks downward (needs the string lifters)."""
    check("std; lodsq; lodsq; cld; lodsq", regs={"rsi": DATA_ADDR + 0x100})
