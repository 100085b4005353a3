"""Oracle tests for the bit family: bt bts btr btc bsf bsr tzcnt lzcnt popcnt bswap.

Every case runs on the host CPU and under both engines. bt* with a memory
operand and a register offset address memory outside the operand (signed
bit index), so those cases centre rdi in the data region.
"""
from __future__ import annotations

import random

import pytest

from .harness import check
from .native import DATA_ADDR, DATA_SIZE
from .undefined_flags import CF, ZF

MASK64 = (1 << 64) - 1
CENTRE = DATA_ADDR + DATA_SIZE // 2          # bt* memory base: +-0x8000 bytes stay mapped
_RNG = random.Random(0xB175)

# Register names per width: (dest registers for the four bt ops, offset register).
REGS = {
    16: (("ax", "bx", "dx", "si"), "cx"),
    32: (("eax", "ebx", "edx", "esi"), "ecx"),
    64: (("rax", "rbx", "rdx", "rsi"), "rcx"),
}
PTR = {8: "byte", 16: "word", 32: "dword", 64: "qword"}
WIDTHS = (16, 32, 64)
BT_OPS = ("bt", "bts", "btr", "btc")
# Four distinct patterns with bits everywhere for the destinations.
DEST_VALUES = {"rax": 0x8000000000000001, "rbx": 0x7FFFFFFFFFFFFFFE, "rdx": 0xF0F0F0F00F0F0F0F,
               "rsi": 0x123456789ABCDEF0}


def _edges(width: int) -> list[int]:
    """Edge values of a width (unsigned) plus two random ones."""
    top = 1 << (width - 1)
    mask = (1 << width) - 1
    vals = [0, 1, 2, mask, top, top - 1, top | 1, 0x80, 0x7F, 0xFF00 & mask,
            0x5555555555555555 & mask, 0xAAAAAAAAAAAAAAAA & mask]
    vals += [_RNG.getrandbits(width) for _ in range(2)]
    return sorted(set(vals))


def _imm8(value: int) -> str:
    """An imm8 as keystone accepts it (it rejects 0x80-0xff but takes their negatives)."""
    return str(value - 256 if value > 127 else value)


def _bt_sequence(width: int, offset: str) -> str:
    """The four bt ops on four registers with one offset; CF of each saved by setc."""
    dests, _ = REGS[width]
    return "; ".join(f"{op} {d}, {offset}; setc {flag}"
                     for op, d, flag in zip(BT_OPS, dests, ("r8b", "r9b", "r10b", "r11b")))


def _reg_offsets(width: int) -> list[int]:
    """Register offsets: masked to the width, so include values past it and garbage high bits."""
    return [0, 1, width - 1, width, width + 1, 31, 63, 64, 255, MASK64, 1 << 63,
            0xDEADBEEF00000000 | (width - 3), _RNG.getrandbits(64)]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("zf_in", [0, ZF | CF])
def test_bt_register_offset(width, zf_in):
    _, off = REGS[width]
    for offset in _reg_offsets(width):
        check(_bt_sequence(width, off), regs=DEST_VALUES | {"rcx": offset}, rflags=zf_in)


@pytest.mark.parametrize("width", WIDTHS)
def test_bt_immediate(width):
    for imm in sorted({0, 1, 7, width - 1, width, width + 5, 31, 63, 64, 200, 255}):
        check(_bt_sequence(width, _imm8(imm)), regs=DEST_VALUES, rflags=ZF)


@pytest.mark.parametrize("width", WIDTHS)
def test_bt_edge_values(width):
    """Edge destination values; the bit tested is the top one and bit 0."""
    off = REGS[width][1]
    for value in _edges(width):
        for offset in (0, width - 1):
            regs = {name: value for name in DEST_VALUES} | {"rcx": offset}
            check(_bt_sequence(width, off), regs=regs)


@pytest.mark.parametrize("width", WIDTHS)
def test_bt_memory_immediate(width):
    ptr = PTR[width]
    for imm in (0, 1, 9, width - 1, width, width + 3, 255):
        asm = "; ".join(f"{op} {ptr} ptr [rdi + {8 * i + 3}], {_imm8(imm)}; setc r{8 + i}b"
                        for i, op in enumerate(BT_OPS))
        check(asm, regs={"rdi": DATA_ADDR}, rflags=ZF)


def _memory_offsets(width: int) -> list[int]:
    """Signed bit offsets reaching before and after the operand (within +-0x7000 bytes)."""
    base = [0, 1, width - 1, width, width + 1, -1, -width, -width - 1, 8 * 0x123 + 5,
            -8 * 0x456 - 3, 8 * 0x6FF0, -8 * 0x7000]
    if width == 16:
        base += [0x7FFF, -0x8000]           # the whole signed 16-bit range (+-4 KiB)
    base += [_RNG.randrange(-8 * 0x7000, 8 * 0x7000) for _ in range(3)]
    return base


@pytest.mark.parametrize("width", WIDTHS)
def test_bt_memory_register_offset_reaches_outside(width):
    """bt* [mem], reg: the offset is a signed bit index from the operand's address."""
    ptr, off = PTR[width], REGS[width][1]
    garbage = 0xA5A5A5A5A5A5A5A5 & ~((1 << width) - 1)   # high bits the CPU must ignore
    for offset in _memory_offsets(width):
        rcx = garbage | (offset & ((1 << width) - 1))
        asm = "; ".join(f"{op} {ptr} ptr [rdi + {disp}], {off}; setc r{8 + i}b"
                        for i, (op, disp) in enumerate(zip(BT_OPS, (0, 2, -6, 0))))
        check(asm, regs={"rdi": CENTRE, "rcx": rcx})


def test_bt_keeps_lazy_zf():
    """bt after a flag-setting op: ZF (and the condition codes reading it) survive."""
    for a, b in ((5, 5), (5, 6)):
        check("cmp r12, r13; bt rax, 3; setz r8b; setc r9b; bts ebx, 31; sete r10b; "
              "btc word ptr [rdi], 17; setnz r11b",
              regs={"r12": a, "r13": b, "rdi": DATA_ADDR})


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("op", ["bsf", "bsr"])
def test_bit_scan(width, op):
    dest, src = REGS[width][0][0], REGS[width][1]
    for value in _edges(width):
        check(f"{op} {dest}, {src}; setz r8b", regs={"rax": 0x1122334455667788, "rcx": value})


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("op", ["bsf", "bsr"])
def test_bit_scan_zero_keeps_destination(width, op):
    """Source zero: ZF = 1 and the whole destination register is kept (even at 32 bits)."""
    dest, src = REGS[width][0][0], REGS[width][1]
    check(f"{op} {dest}, {src}; setz r8b", regs={"rax": 0xFEDCBA9876543210, "rcx": 0})
    check(f"{op} {dest}, {PTR[width]} ptr [rdi]; setz r8b",
          regs={"rax": 0xFEDCBA9876543210, "rdi": DATA_ADDR}, data=bytes(8))


@pytest.mark.parametrize("op", ["bsf", "bsr", "tzcnt", "lzcnt", "popcnt"])
@pytest.mark.parametrize("width", WIDTHS)
def test_scan_memory_source(op, width):
    for value in (0x00F0, 0x8000_0000_0000_0001 & ((1 << width) - 1), 0x40):
        setc = "" if op in ("bsf", "bsr") else "; setc r9b"     # bsf/bsr leave CF undefined
        check(f"{op} {REGS[width][0][1]}, {PTR[width]} ptr [rdi + 8]; setz r8b{setc}",
              regs={"rdi": DATA_ADDR}, data=bytes(8) + value.to_bytes(8, "little"))


@pytest.mark.parametrize("op", ["tzcnt", "lzcnt", "popcnt"])
@pytest.mark.parametrize("width", WIDTHS)
def test_counts(op, width):
    """tzcnt/lzcnt: CF = source zero, ZF = count zero; popcnt: ZF = source zero, rest clear."""
    dest, src = REGS[width][0][0], REGS[width][1]
    for value in _edges(width):
        check(f"{op} {dest}, {src}", regs={"rax": 0x1122334455667788, "rcx": value},
              rflags=CF | ZF | (0x8D5 if op == "popcnt" else 0))


def test_count_same_register():
    check("popcnt rcx, rcx; tzcnt edx, edx; lzcnt bx, bx",
          regs={"rcx": 0xF0F0, "rdx": 0x100, "rbx": 0x00FF})


@pytest.mark.parametrize("reg", ["eax", "rax", "r9d", "r15"])
def test_bswap(reg):
    for value in (0, 0x0102030405060708, MASK64, 0x80, 1 << 63, _RNG.getrandbits(64)):
        check(f"bswap {reg}", regs={"rax": value, "r9": value, "r15": value})


def test_bswap_16bit_zeroes_register():
    """bswap ax is undefined in the SDM; the host zeroes the 16-bit register."""
    check(bytes.fromhex("660fc8"), regs={"rax": 0x1111111122223344})     # bswap ax
    check(bytes.fromhex("66410fcb"), regs={"r11": 0x8877665544332211})   # bswap r11w
