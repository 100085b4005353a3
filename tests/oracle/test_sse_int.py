"""Oracle tests of SSE2 integer SIMD on XMM registers (sem_sse_int.py) against the host CPU.

Inputs are vectors whose lanes together hold every pair of edge lane values (0, 1,
-1, the sign and half-width boundaries, ...) plus random vectors, loaded from the
data region; results are stored back to it (the harness does not compare XMM
registers). Each instruction runs register-register (all 16 registers appear),
register-m128 (aligned), and with the same register twice. Shifts run by imm8 and by
xmm/m128 counts (0, 1, lane-1, lane, huge 64-bit counts, garbage in the ignored high
quadword). Misaligned m128 sources raise #GP (dbt only: natively it kills the process).
"""
from __future__ import annotations

import random

import pytest

from .strategies import mask
from .test_sse_move import XmmBatch, assert_faults, lane_edges, pack, vector_pairs, xmm

BINARY = [
    # logic
    ("pand", 64), ("pandn", 64), ("por", 64), ("pxor", 64), ("andps", 32), ("andpd", 64),
    ("andnps", 32), ("andnpd", 64), ("orps", 32), ("orpd", 64), ("xorps", 32), ("xorpd", 64),
    # arithmetic
    ("paddb", 8), ("paddw", 16), ("paddd", 32), ("paddq", 64),
    ("psubb", 8), ("psubw", 16), ("psubd", 32), ("psubq", 64),
    ("paddsb", 8), ("paddsw", 16), ("paddusb", 8), ("paddusw", 16),
    ("psubsb", 8), ("psubsw", 16), ("psubusb", 8), ("psubusw", 16),
    ("pmullw", 16), ("pmulhw", 16), ("pmulhuw", 16), ("pmuludq", 32), ("pmaddwd", 16),
    ("psadbw", 8), ("pavgb", 8), ("pavgw", 16),
    ("pminub", 8), ("pmaxub", 8), ("pminsw", 16), ("pmaxsw", 16),
    # compares
    ("pcmpeqb", 8), ("pcmpeqw", 16), ("pcmpeqd", 32), ("pcmpgtb", 8), ("pcmpgtw", 16), ("pcmpgtd", 32),
    # unpacks and packs
    ("punpcklbw", 8), ("punpcklwd", 16), ("punpckldq", 32), ("punpcklqdq", 64),
    ("punpckhbw", 8), ("punpckhwd", 16), ("punpckhdq", 32), ("punpckhqdq", 64),
    ("unpcklps", 32), ("unpckhps", 32), ("unpcklpd", 64), ("unpckhpd", 64),
    ("packsswb", 16), ("packssdw", 32), ("packuswb", 16),
]


@pytest.mark.parametrize("name, lane", BINARY, ids=[n for n, _ in BINARY])
def test_binary(name, lane):
    """xmm op xmm over all edge-lane pairs; xmm op m128 on every third pair; xmm op itself."""
    batch = XmmBatch()
    pairs = vector_pairs(lane, seed=len(name))
    for i, (a, b) in enumerate(pairs):
        d, s = xmm(i), xmm(i + 7)
        batch.load(d, a, f"{name} #{i}: destination")
        batch.load(s, b, f"{name} #{i}: source")
        batch.add(f"{name} {d}, {s}")
        batch.save(d, f"{name} {d}, {s} #{i}")
        if i % 3 == 0:
            batch.load(s, a, f"{name} #{i}: destination for the m128 form")
            at = batch.vec(b, f"{name} #{i}: m128 source")
            batch.add(f"{name} {s}, xmmword ptr [rdi + {at:#x}]")
            batch.save(s, f"{name} {s}, m128 #{i}")
    batch.load("xmm5", pairs[-1][0], f"{name}: same-register operand")
    batch.add(f"{name} xmm5, xmm5")
    batch.save("xmm5", f"{name} xmm5, xmm5")
    batch.run()


SHIFTS = [("psllw", 16), ("pslld", 32), ("psllq", 64), ("psrlw", 16), ("psrld", 32), ("psrlq", 64),
          ("psraw", 16), ("psrad", 32)]


def shift_counts(lane: int) -> list[int]:
    return sorted({0, 1, 3, lane // 2, lane - 1, lane, lane + 1, 31, 32, 63, 64, 100, 255})


@pytest.mark.parametrize("name, lane", SHIFTS, ids=[n for n, _ in SHIFTS])
def test_shift(name, lane):
    """By imm8, by xmm and by m128 (the count is the whole low quadword, unsigned)."""
    batch = XmmBatch()
    edges = lane_edges(lane)
    n = 128 // lane
    values = [pack(edges[k:k + n] + edges[:n], lane) for k in range(0, len(edges), n)]
    rnd = random.Random(lane)
    values.append(rnd.getrandbits(128))
    xmm_counts = [0, 1, lane - 1, lane, lane + 1, 1 << 32, 1 << 63, mask(64), 0x100000001,
                  (rnd.getrandbits(64) << 64) | 2]
    for i, v in enumerate(values):
        d = xmm(i + 4)
        for c in shift_counts(lane):
            batch.load(d, v, f"{name} value {i}")
            batch.add(f"{name} {d}, {c}")
            batch.save(d, f"{name} {d}, {c} on value {i}")
        for j, c in enumerate(xmm_counts):
            s = xmm(i + 4 + 1 + j % 15)
            batch.load(d, v, f"{name} value {i}")
            batch.load(s, c, f"{name} count {c:#x}")
            batch.add(f"{name} {d}, {s}")
            batch.save(d, f"{name} {d}, {s}={c:#x} on value {i}")
            if j % 3 == 0:
                at = batch.vec(c, f"{name} m128 count {c:#x}")
                batch.load(d, v, f"{name} value {i}")
                batch.add(f"{name} {d}, xmmword ptr [rdi + {at:#x}]")
                batch.save(d, f"{name} {d}, m128={c:#x} on value {i}")
    batch.run()


@pytest.mark.parametrize("name", ["pslldq", "psrldq"])
def test_byte_shift(name):
    batch = XmmBatch()
    v = random.Random(name).getrandbits(128)
    for k in list(range(18)) + [31, 128, 255]:
        d = xmm(k)
        batch.load(d, v, f"{name} source for {k}")
        batch.add(f"{name} {d}, {k}")
        batch.save(d, f"{name} {d}, {k}")
    batch.run()


SHUFFLES = ["pshufd", "pshuflw", "pshufhw", "shufps", "shufpd"]


@pytest.mark.parametrize("name", SHUFFLES)
def test_shuffle_imm(name):
    """Every immediate for shufpd's 2 bits, a spread of them for the 8-bit selectors."""
    batch = XmmBatch()
    rnd = random.Random(name)
    imms = range(4) if name == "shufpd" else [0x00, 0x1B, 0xE4, 0xFF, 0x55, 0xAA, 0x4E, 0xB1,
                                               rnd.getrandbits(8), rnd.getrandbits(8)]
    imms = list(imms) + ([0xFE] if name == "shufpd" else [])
    for i, imm in enumerate(imms):
        d, s = xmm(i + 1), xmm(i + 9)
        a, b = rnd.getrandbits(128), rnd.getrandbits(128)
        batch.load(d, a, f"{name} {imm:#x}: destination")
        batch.load(s, b, f"{name} {imm:#x}: source")
        batch.add(f"{name} {d}, {s}, {imm:#x}")
        batch.save(d, f"{name} {d}, {s}, {imm:#x}")
        batch.load(d, a, f"{name} {imm:#x}: destination (m128 form)")
        at = batch.vec(b, f"{name} {imm:#x}: m128 source")
        batch.add(f"{name} {d}, xmmword ptr [rdi + {at:#x}], {imm:#x}")
        batch.save(d, f"{name} {d}, m128, {imm:#x}")
        batch.load(d, a, f"{name} {imm:#x}: same register")
        batch.add(f"{name} {d}, {d}, {imm:#x}")
        batch.save(d, f"{name} {d}, {d}, {imm:#x}")
    batch.run()


def test_string_function_idioms():
    """The shape of glibc's SSE2 strlen/memchr/strcmp loops: compare, mask, bit scan."""
    batch = XmmBatch()
    text = b"hello, world\0tail" + bytes(range(1, 40)) + b"\0"
    at = batch.vec(int.from_bytes(text[:16], "little"), "text[0:16]")
    batch.vec(int.from_bytes(text[16:32], "little"), "text[16:32]")
    batch.add("pxor xmm0, xmm0", f"movdqa xmm1, xmmword ptr [rdi + {at:#x}]", "pcmpeqb xmm1, xmm0",
              "pmovmskb eax, xmm1", "bsf ecx, eax",
              "movd xmm2, edx", "punpcklbw xmm2, xmm2", "punpcklwd xmm2, xmm2", "pshufd xmm2, xmm2, 0",
              f"movdqu xmm3, xmmword ptr [rdi + {at + 1:#x}]", "pcmpeqb xmm3, xmm2",
              "pmovmskb r8d, xmm3", "por xmm3, xmm1", "pminub xmm3, xmm1", "pmovmskb r9d, xmm3")
    batch.save("xmm2", "broadcast byte")
    batch.run(regs={"rdx": ord("o")})


def test_misaligned_m128_source_raises_gp():
    for asm in ("paddb xmm0, xmmword ptr [rdi + 1]", "pxor xmm3, xmmword ptr [rdi + 8]",
                "pshufd xmm1, xmmword ptr [rdi + 4], 0x1b", "psllw xmm2, xmmword ptr [rdi + 2]",
                "punpcklbw xmm9, xmmword ptr [rdi + 12]"):
        assert_faults("mov eax, 1", asm, 13)
