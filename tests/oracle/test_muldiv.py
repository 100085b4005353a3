"""Oracle tests of the multiply and divide family (sem_muldiv.py) against the host CPU.

mul, imul (1, 2 and 3 operands, imm8 and imm16/32) and div, idiv at every
width, on legacy, REX, high-byte and memory operands. One check per
(mnemonic form, width) runs every operand pair as a step that loads the
operands, runs the instruction, and stores rax, rdx (or the imul destination)
and, for multiplies, CF and OF (setcc) in its own data slot.

Divisions that raise #DE never run natively (they would kill the test
process): the cases are built to fit and quotient() re-checks each before it
runs. The #DE tests run the division under the engines alone and check the
fault, its rip, and that registers, flags and memory are the native state
just before the division.
"""
from __future__ import annotations

import random
import re

import pytest

from .harness import check, default_regs
from .native import CODE_ADDR, CODE_SIZE, DATA_ADDR, DATA_SIZE, GPRS, assemble, run_native
from .strategies import GARBAGE, PTR, WIDTHS, edge_pairs, low, mask, reg, sext, sign_bit
from .undefined_flags import STATUS_FLAGS, sequence_undefined_mask

SLOT = 32          # per step: CF at +0, OF at +1, results at +8 and +16, memory operand at +24
ENGINES = ("jit", "interp")


def mul_pairs(bits: int) -> list[tuple[int, int]]:
    """edge_pairs plus the boundaries of a significant high half, signed and unsigned."""
    m, s = mask(bits), sign_bit(bits)
    quarter = s >> 1
    return edge_pairs(bits) + [(s, m), (m, 2), (s - 1, 2), (quarter, 2), (-quarter & m, 2),
                               (s - 1, s - 1), (m, s + 1)]


def div_cases(bits: int, signed: bool) -> list[tuple[int, int]]:
    """(dividend of 2*bits, divisor) pairs whose quotient fits: edges and fixed random ones."""
    m, s, wide = mask(bits), sign_bit(bits), 2 * bits
    rnd = random.Random(7 * bits + signed)
    if not signed:
        cases = [(0, 1), (m, 1), (m, m), (m * m + m - 1, m), (2 * m + 1, 2), (s << bits, s + 1),
                 (1 << bits, 2), (12345 & m, 7), (m * m, m), (s * s, m)]
        for _ in range(6):
            d = rnd.getrandbits(bits) or 1
            cases.append((rnd.getrandbits(bits) * d + rnd.randrange(d), d))
    else:
        cases = [(0, 1), (-1, 1), (-s, 1), (s - 1, 1), (s - 1, -1), (-s + 1, -1), (-7, 2),
                 (7, -2), (-7, -2), (7, 2), (-s * 3 - 2, 3), ((s - 1) * 3 + 2, 3),
                 ((s - 1) * -3 - 2, -3), (-s * -3 + 2, -3), (-s, -s), (s - 1, -s)]
        for _ in range(6):
            d = sext(rnd.getrandbits(bits), bits) or 1
            q = rnd.randrange(-s, s)
            r = rnd.randrange(abs(d)) * (1 if q * d >= 0 else -1)
            cases.append((q * d + r, d))
    return [(n & mask(wide), d & m) for n, d in cases]


def quotient(bits: int, signed: bool, dividend: int, divisor: int) -> int | None:
    """The quotient the CPU computes, or None where it raises #DE."""
    if signed:
        dividend, divisor = sext(dividend, 2 * bits), sext(divisor, bits)
    if divisor == 0:
        return None
    q = abs(dividend) // abs(divisor) * (1 if (dividend < 0) == (divisor < 0) else -1)
    fits = -sign_bit(bits) <= q < sign_bit(bits) if signed else q <= mask(bits)
    return q if fits else None


# Operand forms per width: the source operand of mul/imul/div/idiv r/m. "mem" is the
# step's memory slot; "ah" holds the source in bits 8..15 of rax (mul only: it is part of
# a div's dividend).
SOURCES = {8: ("bl", "r10b", "mem", "ah"), 16: ("bx", "r10w", "mem"), 32: ("ebx", "r10d", "mem"),
           64: ("rbx", "r10", "mem")}


def source(src: str, bits: int, value: int, slot: int) -> tuple[list[str], str]:
    """(asm that puts `value` in the operand, the operand text); ah is loaded with rax."""
    if src == "mem":
        return ([f"mov r11, {low(value, bits):#x}", f"mov qword ptr [rdi + {slot + 24}], r11"],
                f"{PTR[bits]} ptr [rdi + {slot + 24}]")
    if src == "ah":
        return [], "ah"
    full = "rbx" if src in ("bl", "bx", "ebx", "rbx") else "r10"
    return [f"mov {full}, {low(value, bits, ~GARBAGE):#x}"], src


def widening_step(index: int, mnemonic: str, bits: int, src: str, a: int, b: int, hi: int | None):
    """mul/imul/div/idiv r/m: rax-part (and rdx-part `hi` for a division) = a, r/m = b."""
    slot = index * SLOT
    asm, operand = source(src, bits, b, slot)
    if src == "ah":
        asm.append(f"mov rax, {GARBAGE & ~0xFFFF | b << 8 | a:#x}")
    elif bits == 8 and hi is not None:                       # ax is the dividend
        asm.append(f"mov rax, {low(hi << 8 | a, 16):#x}")
    else:
        asm.append(f"mov rax, {low(a, bits):#x}")
    asm.append(f"mov rdx, {GARBAGE if hi is None or bits == 8 else low(hi, bits, ~GARBAGE):#x}")
    insn = f"{mnemonic} {operand}"
    asm += [insn, *flags_capture(mnemonic, slot), f"mov qword ptr [rdi + {slot + 8}], rax",
            f"mov qword ptr [rdi + {slot + 16}], rdx"]
    inputs = f"{a:#x}, {b:#x}" if hi is None else f"{hi:#x}:{a:#x} by {b:#x}"
    return asm, f"data+{slot:#x}: {insn} on {inputs}"


def flags_capture(mnemonic: str, slot: int) -> list[str]:
    """mul and imul define CF and OF; div and idiv define no flag."""
    if mnemonic in ("div", "idiv"):
        return []
    return [f"setc byte ptr [rdi + {slot}]", f"seto byte ptr [rdi + {slot + 1}]"]


def imul_step(index: int, form: int, bits: int, a: int, b: int):
    """imul r, r/m (forms 0, 1) and imul r, r/m, imm (forms 2, 3: register and memory r/m)."""
    slot = index * SLOT
    dest, src_kind = reg("r9", bits), (reg("rbx", bits), "mem")[form % 2]
    if form < 2:
        asm, operand = source(src_kind, bits, b, slot)
        asm.append(f"mov r9, {low(a, bits):#x}")
        insn = f"imul {dest}, {operand}"
    else:
        imm = sext(b, 8) if index % 2 else sext(b, min(bits, 32))   # imm8 and imm16/32 encodings
        asm, operand = source(src_kind, bits, a, slot)
        asm.append(f"mov r9, {GARBAGE:#x}")
        insn = f"imul {dest}, {operand}, {imm}"
    asm += [insn, *flags_capture("imul", slot), f"mov qword ptr [rdi + {slot + 8}], r9"]
    return asm, f"data+{slot:#x}: {insn} on {a:#x}, {b:#x}"


def run_steps(steps) -> None:
    asm = "; ".join(line for lines, _ in steps for line in lines)
    try:
        check(asm, regs={"rdi": DATA_ADDR})
    except AssertionError as exc:
        message = str(exc)
        offsets = re.findall(r"data\+(0x[0-9a-f]+)", message)
        slots = sorted({int(off, 16) // SLOT for off in offsets})
        raise AssertionError("\n".join(
            [f"mismatch in a batch of {len(steps)} steps (slot: CF OF at +0, +1; rax/dest at +8; "
             "rdx at +16; registers and rflags are the last step's)",
             *(f"  step {steps[i][1]}" for i in slots if i < len(steps)),
             f"  last {steps[-1][1]}", *message.splitlines()[2:]])) from None


@pytest.mark.parametrize("bits", WIDTHS)
@pytest.mark.parametrize("mnemonic", ("mul", "imul"))
def test_widening_multiply(mnemonic, bits):
    sources = SOURCES[bits]
    steps = [widening_step(i, mnemonic, bits, sources[i % len(sources)], a, b, None)
             for i, (a, b) in enumerate(mul_pairs(bits))]
    run_steps(steps)


@pytest.mark.parametrize("bits", (16, 32, 64))
def test_truncating_imul(bits):
    steps = []
    for a, b in mul_pairs(bits):
        for form in range(4):
            steps.append(imul_step(len(steps), (form + len(steps)) % 4, bits, a, b))
    run_steps(steps)


@pytest.mark.parametrize("bits", WIDTHS)
@pytest.mark.parametrize("mnemonic", ("div", "idiv"))
def test_divide(mnemonic, bits):
    signed = mnemonic == "idiv"
    sources = [s for s in SOURCES[bits] if s != "ah"]
    steps = []
    for i, (dividend, divisor) in enumerate(div_cases(bits, signed)):
        assert quotient(bits, signed, dividend, divisor) is not None, "would raise #DE natively"
        hi, lo = dividend >> bits, dividend & mask(bits)
        steps.append(widening_step(i, mnemonic, bits, sources[i % len(sources)], lo, divisor, hi))
    run_steps(steps)


def test_same_register_operands():
    """mul/imul/div whose r/m is the accumulator itself, and imul r, r."""
    check("mul al; mov r8, rax; mov rax, rcx; imul rax; mov r9, rdx; imul ecx, ecx; "
          "imul r10w, r10w, -1",
          regs={"rax": 0xF3, "rcx": 0xC000000000000001, "r10": 0x8000})
    check("mov edx, 0; div eax; mov r8, rax; mov rax, 5; cqo; idiv rax",
          regs={"rax": 0x12345678})


# -- #DE: only under the engines ------------------------------------------------------

def run_to_fault(engine: str, code: bytes, regs: dict[str, int], data: bytes):
    from dbt.api import Emulator

    emu = Emulator(engine=engine)
    emu.map(CODE_ADDR, CODE_SIZE, perms="rwx")
    emu.map(DATA_ADDR, DATA_SIZE, perms="rw")
    emu.write(CODE_ADDR, code + b"\xcc" * (CODE_SIZE - len(code)))
    emu.write(DATA_ADDR, data)
    for name in GPRS:
        emu.reg_write(name, regs[name])
    emu.rflags = 0x2
    info = emu.run(start=CODE_ADDR, until=CODE_ADDR + len(code), max_insns=1000)
    return info, emu


ALL = (1 << 64) - 1
DE_CASES = [
    # (safe prefix run natively too, faulting division, registers)
    ("", "div cl", {"rax": 0x1234, "rcx": 0}),
    ("", "div r9w", {"r9": 0xFFFF_0000}),
    ("", "div ecx", {"rcx": 1 << 32, "rdx": 0}),
    ("", "div rcx", {"rcx": 0, "rdx": 0}),
    ("", "div qword ptr [rdi + 8]", {}),
    ("", "div ah", {"rax": 0x0501}),                   # ah is also the dividend's high half
    ("", "div bx", {"rdx": 7, "rbx": 7}),               # dx >= bx: the quotient needs 17 bits
    ("", "div rbx", {"rdx": 1 << 63, "rbx": 5}),
    ("", "idiv cl", {"rcx": 0x100}),
    ("", "idiv rcx", {"rcx": 0}),
    ("", "idiv dword ptr [rdi + 8]", {}),
    ("", "idiv cl", {"rax": 0x8000, "rcx": 0xFF}),      # -32768 / -1: the wide MIN / -1
    ("", "idiv cl", {"rax": 0x80, "rcx": 1}),           # 128 / 1
    ("", "idiv cl", {"rax": 0xFF80, "rcx": 0xFF}),      # -128 / -1
    ("", "idiv bx", {"rax": 0x8000, "rdx": 0xFFFF, "rbx": 0xFFFF}),
    ("", "idiv ecx", {"rax": 0x8000_0000, "rdx": 0xFFFF_FFFF, "rcx": 0xFFFF_FFFF}),
    ("", "idiv rcx", {"rax": 1 << 63, "rdx": ALL, "rcx": ALL}),   # INT64_MIN / -1
    ("", "idiv rcx", {"rax": 0, "rdx": 1 << 63, "rcx": ALL}),      # INT128_MIN / -1
    ("", "idiv r8", {"rax": 1 << 63, "rdx": 0, "r8": 1}),           # 2^63 / 1
    ("add rsi, 1; cmp rsi, rdi; mov r11, 3", "div r12", {"rsi": 41, "r12": 0}),
    ("mov rdx, 1; sub rax, rbx", "idiv r12", {"r12": 0}),
]


@pytest.mark.parametrize("prefix, insn, regs", DE_CASES, ids=[f"{p + '; ' if p else ''}{i}"
                                                              for p, i, _ in DE_CASES])
def test_divide_error(prefix, insn, regs):
    """#DE: rip at the division; registers, defined flags and memory as the CPU left them."""
    regs = default_regs() | {"rdi": DATA_ADDR} | regs
    data = bytes(16) + bytes(range(256)) * (DATA_SIZE // 256 - 1) + bytes(240)
    head = assemble(prefix) if prefix else b""
    code = head + assemble(insn, CODE_ADDR + len(head))
    before = run_native(head, regs, 0x2, data)
    defined = STATUS_FLAGS & ~sequence_undefined_mask(head, CODE_ADDR, regs)
    for engine in ENGINES:
        info, emu = run_to_fault(engine, code, regs, data)
        where = f"{engine}: {prefix}; {insn}"
        assert info.reason == "fault" and info.fault.vector == 0, f"{where}: {info!r}"
        assert emu.reg_read("rip") == CODE_ADDR + len(head), where
        assert {r: emu.reg_read(r) for r in GPRS} == before.regs, where
        assert emu.rflags & defined == before.rflags & defined, where
        assert emu.read(DATA_ADDR, DATA_SIZE) == before.data, where
