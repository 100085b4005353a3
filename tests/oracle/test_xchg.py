"""Oracle tests for cmpxchg and xadd at every width, on registers and memory.

Register values carry garbage in their upper bits so the partial-register
rules show: a 32-bit cmpxchg writes (zero-extending) only the register it
changes, the destination on success, eax on failure.
"""
from __future__ import annotations

import random

import pytest

from .harness import check
from .native import DATA_ADDR

_RNG = random.Random(0xC3C3)
HIGH = (0xA1B2C3D4E5F60718, 0x1827364554637281, 0xF0E1D2C3B4A59687)   # garbage above the width
PTR = {8: "byte", 16: "word", 32: "dword", 64: "qword"}
# (accumulator, destination, source) register names per width.
REGS = {8: ("al", "bl", "dl"), 16: ("ax", "bx", "dx"), 32: ("eax", "ebx", "edx"),
        64: ("rax", "rbx", "rdx")}
CONDS = "setz r8b; setb r9b; setl r10b; setbe r11b; setle r12b; seto r13b; sets r14b; setp r15b"


def _pairs(width: int) -> list[tuple[int, int]]:
    """(a, b) operand pairs on the edges of `width`, plus random ones."""
    mask = (1 << width) - 1
    top = 1 << (width - 1)
    pairs = [(0, 0), (0, 1), (1, 0), (mask, 1), (1, mask), (top, 1), (top - 1, 1),
             (top, top - 1), (top - 1, top), (0x7F, 0x80), (0x0F, 0x01), (mask, mask)]
    pairs += [(_RNG.getrandbits(width), _RNG.getrandbits(width)) for _ in range(3)]
    return pairs


def _with_high(value: int, width: int, i: int) -> int:
    return (HIGH[i] & ~((1 << width) - 1)) | value if width < 64 else value


def _place(width: int, acc: int, dest: int, src: int) -> dict[str, int]:
    """rax/rbx/rdx holding the three values at `width`, with garbage above."""
    return {"rax": _with_high(acc, width, 0), "rbx": _with_high(dest, width, 1),
            "rdx": _with_high(src, width, 2)}


@pytest.mark.parametrize("width", (8, 16, 32, 64))
def test_cmpxchg_register(width):
    """Both outcomes: accumulator equal to the destination, and not."""
    _, dest, src = REGS[width]
    for a, b in _pairs(width):
        check(f"cmpxchg {dest}, {src}; {CONDS}", regs=_place(width, b, b, a))    # succeeds
        check(f"cmpxchg {dest}, {src}; {CONDS}", regs=_place(width, a, b, 0x5A))  # fails if a != b


@pytest.mark.parametrize("asm", [
    "cmpxchg bh, dh",       # high bytes against al
    "cmpxchg ah, dl",       # destination is the accumulator's high byte
    "cmpxchg bl, ah",       # source is the accumulator's high byte
    "cmpxchg al, dl",       # destination is the accumulator: always equal
    "cmpxchg eax, edx",
    "cmpxchg rax, rdx",
    "cmpxchg ebx, eax",     # source is the accumulator
    "cmpxchg si, di",
    "cmpxchg ebp, esi",
    "cmpxchg ebx, ebx",
])
def test_cmpxchg_register_overlaps(asm):
    for rax, rbx in ((0x1111111122223344, 0x5555555566667788),
                     (0x1111111122223344, 0x5555555522223344),
                     (0x1111111122224444, 0x5555555566664444)):
        check(f"{asm}; {CONDS}", regs={"rax": rax, "rbx": rbx, "rdx": 0x99999999AAAABBCC,
                                        "rsi": rax, "rdi": 0xDEAD, "rbp": 0xFEEDFACE22223344})


@pytest.mark.parametrize("width", (8, 16, 32, 64))
@pytest.mark.parametrize("lock", ["", "lock "])
def test_cmpxchg_memory(width, lock):
    src = REGS[width][2]
    for a, b in _pairs(width)[::2]:
        data = b.to_bytes(width // 8, "little")
        asm = f"{lock}cmpxchg {PTR[width]} ptr [rdi + 8], {src}; {CONDS}"
        check(asm, regs=_place(width, b, 0, a) | {"rdi": DATA_ADDR}, data=bytes(8) + data)
        check(asm, regs=_place(width, a ^ 1, 0, a) | {"rdi": DATA_ADDR}, data=bytes(8) + data)


def test_cmpxchg_loop():
    """The usual compare-and-swap retry loop: the first attempt fails, the second succeeds."""
    check("mov rax, 5; top: lea rcx, [rax + 1]; lock cmpxchg [rdi], rcx; jnz top",
          regs={"rdi": DATA_ADDR}, data=(41).to_bytes(8, "little"))


@pytest.mark.parametrize("width", (8, 16, 32, 64))
def test_xadd_register(width):
    _, dest, src = REGS[width]
    for a, b in _pairs(width):
        check(f"xadd {dest}, {src}; {CONDS}", regs=_place(width, 0, a, b))


@pytest.mark.parametrize("asm", ["xadd eax, eax", "xadd ah, al", "xadd al, ah", "xadd bh, ch",
                                 "xadd rax, rax", "xadd si, di", "xadd cl, bpl"])
def test_xadd_register_overlaps(asm):
    for rax in (0x1111111122223344, 0x80000000FF7F8080):
        check(f"{asm}; {CONDS}", regs={"rax": rax, "rbx": 0x5555555566667788, "rcx": 0x01FF,
                                        "rsi": rax, "rdi": 0x8001, "rbp": 0x7F})


@pytest.mark.parametrize("width", (8, 16, 32, 64))
@pytest.mark.parametrize("lock", ["", "lock "])
def test_xadd_memory(width, lock):
    src = REGS[width][2]
    for a, b in _pairs(width)[1::2]:
        check(f"{lock}xadd {PTR[width]} ptr [rdi + 3], {src}; {CONDS}",
              regs=_place(width, 0, 0, b) | {"rdi": DATA_ADDR},
              data=bytes(3) + a.to_bytes(width // 8, "little"))
