"""Oracle tests of SSE/SSE2 floating point (sem_sse_float.py) against the host CPU.

Inputs are the edge encodings of f32 and f64 (signed zeros, the smallest and largest
subnormals, the smallest normal, the largest finite, infinities, quiet and signalling
NaNs with payloads, 1, 0.1, 1/3, halfway cases for each rounding and conversion) and
seeded random ones, loaded from the data region; results go back to it (XMM registers
are not compared by the harness), to GPRs (cvt*2si) or, for ucomis/comis, through
lahf/seto. Every sequence runs at each MXCSR rounding control (ldmxcsr of a value
placed in the data; 0x1F80 is restored at the end), in register-register,
register-memory and same-register forms. Scalar destinations start with a garbage
upper part, so a lost merge shows. The sticky exception flags in MXCSR are stored
and cleared after every instruction checked. Faults (#GP on misaligned m128, #UD for the
approximations rcpps/rsqrtps/rcpss/rsqrtss) run under dbt only.
"""
from __future__ import annotations

import random
import struct

import pytest

from .strategies import mask
from .test_sse_move import GARBAGE128, XmmBatch, assert_faults, pack, xmm

RCS = (0, 1, 2, 3)                      # nearest, down, up, toward zero
DEFAULT_MXCSR = 0x1F80


def f32(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def f64(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def _signed(values, lane: int):
    """Each value and its negation (sign bit set)."""
    return [v for x in values for v in (x, x | 1 << (lane - 1))]


F32_SPECIAL = [0x00000000, 0x80000000, 0x7F800000, 0xFF800000,          # zeros, infinities
               0x7FC00123, 0xFFC0DEAD, 0x7F800456, 0xFFA00001]          # QNaNs, SNaNs (payloads)
F64_SPECIAL = [0x0000000000000000, 0x8000000000000000, 0x7FF0000000000000, 0xFFF0000000000000,
               0x7FF8000000000123, 0xFFF80000DEAD0000, 0x7FF0000000000456, 0xFFF4000000000001]
F32_FINITE = (_signed([0x00000001, 0x007FFFFF, 0x00800000, 0x7F7FFFFF], 32)     # subnormals, min normal, max
              + [f32(1.0), f32(-1.0), f32(0.1), f32(1 / 3), f32(-2.5), f32(0.5), f32(1.5),
                 0x33800000,                                                    # 2**-24: half an ulp of 1
                 f32(1 + 2 ** -23), f32(3.0)])
F64_FINITE = (_signed([0x0000000000000001, 0x000FFFFFFFFFFFFF, 0x0010000000000000, 0x7FEFFFFFFFFFFFFF], 64)
              + [f64(1.0), f64(-1.0), f64(0.1), f64(1 / 3), f64(-2.5), f64(0.5), f64(1.5),
                 0x3CA0000000000000,                                            # 2**-53: half an ulp of 1
                 f64(1 + 2 ** -52), f64(3.0)])
EDGES = {32: F32_SPECIAL + F32_FINITE, 64: F64_SPECIAL + F64_FINITE}
SPECIAL = {32: F32_SPECIAL, 64: F64_SPECIAL}
FINITE = {32: F32_FINITE, 64: F64_FINITE}
# Compares and min/max: the classes and orderings (not the roundings) matter.
COMPARE_VALUES = {32: F32_SPECIAL + _signed([0x00000001, 0x00800000, 0x7F7FFFFF], 32)
                  + [f32(1.0), f32(1 / 3)],
                  64: F64_SPECIAL + _signed([0x0000000000000001, 0x0010000000000000, 0x7FEFFFFFFFFFFFFF], 64)
                  + [f64(1.0), f64(1 / 3)]}
# Float -> integer: ties, the 32- and 64-bit overflow boundaries, and values just inside.
TO_INT = {
    32: [f32(x) for x in (0.5, -0.5, 1.5, 2.5, -2.5, 0.49999997, 2147483520.0, 2 ** 31, -2 ** 31,
                          -2147483904.0, 2 ** 63, -2 ** 63, 9.2233715e18, 1e10, -1e10, 12345.678)],
    64: [f64(x) for x in (0.5, -0.5, 1.5, 2.5, -2.5, 0.49999999999999994, 2147483647.5, 2147483647.4,
                          2147483648.0, -2147483648.5, -2147483648.4, -2147483649.0, 2 ** 63, -2 ** 63,
                          9223372036854774784.0, -9223372036854775808.0, 1e10, -1e10, 12345.678)],
}
# f64 -> f32: beyond f32's range, f32 halfway points, values that round to f32 subnormals.
NARROWING = [f64(x) for x in (3.4028235677973366e38, 3.4028235e38 * 1.0000001, 1e39, -1e39,
                              1 + 2 ** -24, 1 + 3 * 2 ** -24, -(1 + 2 ** -24), 1.401298464324817e-45,
                              0.7e-45, 2 ** -150, 2 ** -149 * 1.5, 1.1754942e-38, 1e-50, -1e-50)]
# Integers: the roundings of cvtsi2ss (above 2**24) and cvtsi2sd (above 2**53), the limits.
INTS = [0, 1, mask(64), 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF80000000, 0x1000001, 0x1000003,
        (1 << 24) + 2, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, (1 << 53) + 1, (1 << 53) + 3,
        0xFFDFFFFFFFFFFFFF, 0x00000000FFFFFF7F, 0x123456789ABCDEF1]


def random_floats(lane: int, n: int, seed) -> list[int]:
    """Half raw bit patterns, half values near 1 (where rounding is exercised)."""
    rnd = random.Random(seed)
    exp_bits, frac_bits = (8, 23) if lane == 32 else (11, 52)
    bias = (1 << (exp_bits - 1)) - 1
    out = []
    for i in range(n):
        if i % 2:
            out.append(rnd.getrandbits(lane))
        else:
            e = bias + rnd.randint(-4, 4)
            out.append((rnd.getrandbits(1) << (lane - 1)) | (e << frac_bits) | rnd.getrandbits(frac_bits))
    return out


class FloatBatch(XmmBatch):
    """An XmmBatch whose cases run under a chosen MXCSR; run() restores the default. Every
    save() also stores MXCSR, whose sticky exception flags (bits 0-5) are those raised since
    the previous save, and clears them."""

    def __init__(self) -> None:
        super().__init__()
        self.default = self.current = self.slot(DEFAULT_MXCSR, 4, "mxcsr 0x1f80")
        self.add(f"ldmxcsr dword ptr [rdi + {self.default:#x}]")        # no flags from the host

    def rounding(self, rc: int) -> None:
        value = DEFAULT_MXCSR | rc << 13
        self.current = self.slot(value, 4, f"mxcsr {value:#x}")
        self.add(f"ldmxcsr dword ptr [rdi + {self.current:#x}]")

    def save(self, reg: str, what: str) -> None:
        super().save(reg, what)
        self.flags(what)

    def flags(self, what: str) -> None:
        self.add(f"stmxcsr dword ptr [rdi + {self.out(f'MXCSR flags of {what}', 4):#x}]",
                 f"ldmxcsr dword ptr [rdi + {self.current:#x}]")

    def unaligned(self, value: int, size: int, what: str) -> int:
        """A data slot at an odd address (scalar memory operands take any alignment)."""
        if len(self.data) % 2 == 0:
            self.data.append(0xEE)
        return self.slot(value, size, what)

    def run(self, regs=None, rflags: int = 0x2, head: str = ""):
        self.add(f"ldmxcsr dword ptr [rdi + {self.default:#x}]")
        return super().run(regs, rflags, head)


def vectors(pairs, lane: int, scalar: bool) -> list[tuple[int, int]]:
    """(a, b) i128 pairs; scalar: one pair a vector, upper lanes garbage; packed: lanes filled."""
    if scalar:
        high = GARBAGE128 & ~mask(lane)
        return [(high | x, (GARBAGE128 ^ mask(128)) & ~mask(lane) | y) for x, y in pairs]
    n = 128 // lane
    out = []
    for k in range(0, len(pairs), n):
        chunk = (pairs[k:k + n] + pairs[:n])[:n]
        out.append((pack([x for x, _ in chunk], lane), pack([y for _, y in chunk], lane)))
    return out


def binary_pairs(lane: int, rc: int, scalar: bool, seed) -> list[tuple[int, int]]:
    """Packed, RC nearest: every pair with a special operand and half the finite pairs;
    other RCs: a third of the finite pairs (where RC matters); scalar forms: each edge (RC
    nearest) and each finite edge against a rotation of the list. Plus random pairs."""
    edges, finite, special = EDGES[lane], FINITE[lane], SPECIAL[lane]
    rnd = random_floats(lane, 16, f"{seed}-{lane}-{rc}")
    if scalar:
        pairs = [(x, edges[(i * 7 + rc) % len(edges)]) for i, x in enumerate(edges)] if rc == 0 else []
        pairs += [(x, finite[(i * 5 + rc + 1) % len(finite)]) for i, x in enumerate(finite)]
    elif rc == 0:
        pairs = [(x, y) for x in special for y in edges] + [(x, y) for x in finite for y in special]
        pairs += [(x, y) for i, x in enumerate(finite) for y in finite[i % 2::2]]
    else:
        pairs = [(x, y) for i, x in enumerate(finite) for y in finite[(i + rc) % 3::3]]
    return pairs + list(zip(rnd[::2], rnd[1::2])) + [(x, x) for x in rnd[:4]]


FORMS = {"ss": (32, True), "sd": (64, True), "ps": (32, False), "pd": (64, False)}
PTR = {32: "dword", 64: "qword"}


def add_binary(batch: FloatBatch, name: str, lane: int, scalar: bool, pairs, tag: str) -> None:
    """name dst, src over every pair: reg-reg (all 16 registers), reg-mem on every fourth."""
    for i, (a, b) in enumerate(vectors(pairs, lane, scalar)):
        d, s = xmm(i), xmm(i + 7)
        batch.load(d, a, f"{tag} #{i}: destination")
        batch.load(s, b, f"{tag} #{i}: source")
        batch.add(f"{name} {d}, {s}")
        batch.save(d, f"{tag} {name} {d}, {s} #{i}")
        if i % 4 == 0:
            batch.load(s, a, f"{tag} #{i}: destination of the memory form")
            if scalar:
                at = batch.unaligned(b & mask(lane), lane // 8, f"{tag} #{i}: m{lane} source")
                batch.add(f"{name} {s}, {PTR[lane]} ptr [rdi + {at:#x}]")
            else:
                at = batch.vec(b, f"{tag} #{i}: m128 source")
                batch.add(f"{name} {s}, xmmword ptr [rdi + {at:#x}]")
            batch.save(s, f"{tag} {name} {s}, mem #{i}")


ARITH = ("add", "sub", "mul", "div")


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("op", ARITH)
def test_arithmetic(op, form):
    lane, scalar = FORMS[form]
    name = op + form
    batch = FloatBatch()
    for rc in RCS:
        batch.rounding(rc)
        add_binary(batch, name, lane, scalar, binary_pairs(lane, rc, scalar, name), f"rc={rc}")
    batch.load("xmm5", pack(EDGES[lane][:128 // lane], lane), "same-register operand")
    batch.add(f"{name} xmm5, xmm5")
    batch.save("xmm5", f"{name} xmm5, xmm5")
    batch.run()


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("op", ("min", "max"))
def test_min_max(op, form):
    """No rounding: every pair of compare values at one RC (NaNs and equal values give the source)."""
    lane, scalar = FORMS[form]
    name = op + form
    batch = FloatBatch()
    batch.rounding(2)
    values = COMPARE_VALUES[lane]
    pairs = [(x, y) for x in values for y in values] + binary_pairs(lane, 0, True, name)
    add_binary(batch, name, lane, scalar, pairs[::2] if scalar else pairs, name)
    batch.run()


@pytest.mark.parametrize("form", FORMS)
def test_sqrt(form):
    """Every edge (negative ones give the default NaN) and random values, at every RC."""
    lane, scalar = FORMS[form]
    name = "sqrt" + form
    batch = FloatBatch()
    values = EDGES[lane] + random_floats(lane, 24, name) + [f32(2.0) if lane == 32 else f64(2.0)]
    values += [v & ~(1 << (lane - 1)) for v in random_floats(lane, 16, name + "+")]
    for rc in RCS:
        batch.rounding(rc)
        add_binary(batch, name, lane, scalar, [(GARBAGE128 & mask(lane), v) for v in values], f"rc={rc}")
    batch.run()


PREDICATES = ("eq", "lt", "le", "unord", "neq", "nlt", "nle", "ord")
# Capstone 5 gives the alias mnemonics the ids CMPPD + imm (capstone-engine/capstone#2195):
# imm 2, 3, 4, 6 land on the string compares (CMPSB CMPSD CMPSQ CMPSW), and cmpsd imm >= 8 is
# CMPSD too; sem_string.py forwards their 0F C2 encodings to sem_sse_float.lift_cmp_float.


def _cmp_param(imm: int, form: str):
    return pytest.param(imm, form, id=f"cmp{form}-imm{imm:#x}")


@pytest.mark.parametrize("imm, form", [_cmp_param(imm, form) for form in FORMS
                                       for imm in list(range(8)) + [0x0D, 0xFF]])
def test_compare(imm, form):
    """cmpXX dst, src, imm: all-ones lanes; imm8 bits 7:3 are ignored by legacy SSE."""
    lane, scalar = FORMS[form]
    batch = FloatBatch()
    values = COMPARE_VALUES[lane]
    pairs = [(x, y) for x in values for y in values] + [(x, x) for x in random_floats(lane, 4, f"cmp{imm}")]
    if scalar:
        pairs = pairs[imm % 3::3]
    for i, (a, b) in enumerate(vectors(pairs, lane, scalar)):
        d, s = xmm(i + 2), xmm(i + 11)
        batch.load(d, a, f"#{i}: destination")
        batch.load(s, b, f"#{i}: source")
        batch.add(f"cmp{form} {d}, {s}, {imm}")
        batch.save(d, f"cmp{form} {d}, {s}, {imm} #{i}")
        if i % 4 == 0:
            batch.load(s, a, f"#{i}: destination of the memory form")
            if scalar:
                at = batch.unaligned(b & mask(lane), lane // 8, f"#{i}: m{lane} source")
                batch.add(f"cmp{form} {s}, {PTR[lane]} ptr [rdi + {at:#x}], {imm}")
            else:
                batch.add(f"cmp{form} {s}, xmmword ptr [rdi + {batch.vec(b, f'#{i}: m128'):#x}], {imm}")
            batch.save(s, f"cmp{form} {s}, mem, {imm} #{i}")
    batch.run()


def test_compare_prefix_combinations():
    """The form of 0F C2 comes from its prefixes: the last F2/F3 wins, and either beats 66."""
    batch = FloatBatch()
    a = pack([f32(1.0), f32(2.0), f32(-1.0), f32(0.5)], 32)
    b = pack([f32(2.0), f32(1.0), f32(-1.0), f32(0.25)], 32)
    for raw in ("66f20fc2c101", "f2660fc2c101", "f3f20fc2c101", "f2f30fc2c101", "66f30fc2c101",
                "f3660fc2c105", "f2f30fc2c107", "660fc2c101", "0fc2c101"):
        batch.load("xmm0", a, f"{raw}: destination")
        batch.load("xmm1", b, f"{raw}: source")
        batch.add(".byte " + ", ".join(f"0x{raw[k:k + 2]}" for k in range(0, len(raw), 2)))
        batch.save("xmm0", f"{raw}: result")
    batch.run()


@pytest.mark.parametrize("name", ["ucomiss", "comiss", "ucomisd", "comisd"])
def test_ucomis_comis(name):
    """ZF PF CF from the compare, OF SF AF cleared (set beforehand by an add that sets them)."""
    lane = 32 if name.endswith("s") else 64
    batch = FloatBatch()
    values = COMPARE_VALUES[lane]
    pairs = [(x, y) for x in values for y in values] + [(x, x) for x in random_floats(lane, 4, name)]
    for i, (a, b) in enumerate(pairs):
        d, s = xmm(i), xmm(i + 5)
        batch.load(d, GARBAGE128 & ~mask(lane) | a, f"#{i}: first operand")
        if i % 2:
            src = f"{PTR[lane]} ptr [rdi + {batch.unaligned(b, lane // 8, f'#{i}: m{lane} operand'):#x}]"
        else:
            batch.load(s, GARBAGE128 & ~mask(lane) | b, f"#{i}: second operand")
            src = s
        out = batch.slot(0x5A5A, 2, f"#{i}: lahf, seto after {name} {d}, {src}")
        batch.add("mov eax, 0x7fffffff", "add eax, 1", f"{name} {d}, {src}", "lahf",
                  f"mov byte ptr [rdi + {out:#x}], ah", f"seto byte ptr [rdi + {out + 1:#x}]")
        batch.flags(f"#{i}: {name} {d}, {src}")
    batch.run()


GPR_PAIRS = (("rax", "eax"), ("r9", "r9d"), ("rdx", "edx"), ("r14", "r14d"))


@pytest.mark.parametrize("name", ["cvtsi2ss", "cvtsi2sd"])
def test_cvtsi2s(name):
    """From r32 (upper half of the GPR ignored), r64, m32, m64, into the low lane."""
    batch = FloatBatch()
    for rc in RCS:
        batch.rounding(rc)
        for i, v in enumerate(INTS + [random.Random(rc).getrandbits(64)]):
            r64, r32 = GPR_PAIRS[i % len(GPR_PAIRS)]
            d = xmm(i + rc)
            at = batch.unaligned(v, 8, f"rc={rc} integer {v:#x}")
            batch.add(f"mov {r64}, qword ptr [rdi + {at:#x}]")
            for src in (r32, r64, f"dword ptr [rdi + {at:#x}]", f"qword ptr [rdi + {at:#x}]"):
                batch.load(d, GARBAGE128, f"rc={rc}: garbage under {name} {d}, {src}")
                batch.add(f"{name} {d}, {src}")
                batch.save(d, f"rc={rc}: {name} {d}, {src} of {v:#x}")
    batch.run()


@pytest.mark.parametrize("name", ["cvtss2si", "cvttss2si", "cvtsd2si", "cvttsd2si"])
def test_cvts2si(name):
    """Into r32 (zero-extended over a garbage register) and r64, from xmm and m32/m64: ties and
    overflow boundaries at every RC, the other edges (NaN, infinities, ...) at RC nearest."""
    lane = 32 if "ss" in name else 64
    batch = FloatBatch()
    for rc in RCS:
        batch.rounding(rc)
        values = TO_INT[lane] + random_floats(lane, 4, f"{name}{rc}") + (EDGES[lane] if rc == 0 else [])
        for i, v in enumerate(values):
            r64, r32 = GPR_PAIRS[i % len(GPR_PAIRS)]
            s = xmm(i)
            batch.load(s, GARBAGE128 & ~mask(lane) | v, f"rc={rc}: source {v:#x}")
            at = batch.unaligned(v, lane // 8, f"rc={rc}: m{lane} source {v:#x}")
            mem = f"{PTR[lane]} ptr [rdi + {at:#x}]"
            for dst, src in ((r32, s), (r64, s), (r32, mem), (r64, mem)):
                out = batch.slot(0x5A5A5A5A5A5A5A5A, 8, f"rc={rc}: {name} {dst}, {src}")
                batch.add(f"mov {r64}, -1", f"{name} {dst}, {src}", f"mov qword ptr [rdi + {out:#x}], {r64}")
                batch.flags(f"rc={rc}: {name} {dst}, {src}")
    batch.run()


@pytest.mark.parametrize("name", ["cvtss2sd", "cvtsd2ss"])
def test_scalar_float_conversion(name):
    """The low lane converted, the rest of the destination kept; xmm and m32/m64 sources."""
    lane = 32 if name == "cvtss2sd" else 64
    batch = FloatBatch()
    values = EDGES[lane] + random_floats(lane, 12, name) + (NARROWING if lane == 64 else [])
    for rc in RCS:
        batch.rounding(rc)
        pairs = [(GARBAGE128, v) for v in values]
        add_binary(batch, name, lane, True, pairs, f"rc={rc}")
    batch.run()


PACKED_CONVERSIONS = {
    # name: (source lane, source is m64 (any alignment) rather than m128 (aligned), source values)
    "cvtps2pd": (32, True, "float"), "cvtpd2ps": (64, False, "narrowing"),
    "cvtdq2ps": (32, False, "int"), "cvtdq2pd": (32, True, "int"),
    "cvtps2dq": (32, False, "to_int"), "cvttps2dq": (32, False, "to_int"),
    "cvtpd2dq": (64, False, "to_int"), "cvttpd2dq": (64, False, "to_int"),
}


def conversion_sources(name: str, lane: int, kind: str, rc: int) -> list[int]:
    """Every edge at RC nearest, the finite ones at the other RCs, plus the cases of `kind`."""
    values = (EDGES[lane] if rc == 0 else FINITE[lane]) + random_floats(lane, 8, f"{name}{rc}")
    if kind == "narrowing":
        values += NARROWING
    elif kind == "to_int":
        values += TO_INT[lane]
    elif kind == "int":
        values = [v & mask(32) for v in INTS] + [v >> 32 for v in INTS] + values
    return values


@pytest.mark.parametrize("name", PACKED_CONVERSIONS)
def test_packed_conversion(name):
    """Every lane converted (results narrower than 128 bits zero the rest); xmm, memory, itself."""
    lane, m64, kind = PACKED_CONVERSIONS[name]
    batch = FloatBatch()
    n = 128 // lane
    for rc in RCS:
        batch.rounding(rc)
        values = conversion_sources(name, lane, kind, rc)
        step = n // 2 if m64 else n          # an m64 source converts the low half only
        sources = [pack((values[k:k + n] + values[:n])[:n], lane) for k in range(0, len(values), step)]
        for i, v in enumerate(sources):
            d, s = xmm(i + rc), xmm(i + rc + 9)
            batch.load(s, v, f"rc={rc}: source #{i}")
            batch.load(d, GARBAGE128, f"rc={rc}: garbage destination #{i}")
            batch.add(f"{name} {d}, {s}")
            batch.save(d, f"rc={rc}: {name} {d}, {s} #{i}")
            if i % 2 == 0:
                if m64:
                    src = f"qword ptr [rdi + {batch.unaligned(v & mask(64), 8, f'rc={rc}: m64 #{i}'):#x}]"
                else:
                    src = f"xmmword ptr [rdi + {batch.vec(v, f'rc={rc}: m128 #{i}'):#x}]"
                batch.add(f"{name} {d}, {src}")
                batch.save(d, f"rc={rc}: {name} {d}, mem #{i}")
        batch.load("xmm7", sources[rc], f"rc={rc}: same register")
        batch.add(f"{name} xmm7, xmm7")
        batch.save("xmm7", f"rc={rc}: {name} xmm7, xmm7")
    batch.run()


def test_glibc_printf_idioms():
    """What printf("%f") and strtod do: cvtsi2sd, mulsd by 10, cvttsd2si, ucomisd, subsd."""
    batch = FloatBatch()
    at = batch.slot(f64(1 / 3), 8, "1/3")
    ten = batch.slot(f64(10.0), 8, "10.0")
    digits = batch.slot(0, 8, "digits")
    batch.add("xor r8, r8", f"movsd xmm0, qword ptr [rdi + {at:#x}]",
              f"movsd xmm1, qword ptr [rdi + {ten:#x}]")
    for k in range(6):
        batch.add("mulsd xmm0, xmm1", "cvttsd2si eax, xmm0", "pxor xmm2, xmm2", "cvtsi2sd xmm2, eax",
                  "subsd xmm0, xmm2", "imul r8, r8, 10", "add r8, rax")
    batch.add(f"mov qword ptr [rdi + {digits:#x}], r8", "ucomisd xmm0, xmm1", "seta cl", "setp dl")
    batch.save("xmm0", "remainder")
    batch.run()


# -- faults -------------------------------------------------------------------------------

@pytest.mark.parametrize("asm", [
    "addps xmm0, xmmword ptr [rdi + 8]", "mulpd xmm3, xmmword ptr [rdi + 4]",
    "sqrtps xmm1, xmmword ptr [rdi + 1]", "maxpd xmm9, xmmword ptr [rdi + 12]",
    "cmpps xmm2, xmmword ptr [rdi + 8], 0", "cvtdq2ps xmm0, xmmword ptr [rdi + 4]",
    "cvtpd2ps xmm0, xmmword ptr [rdi + 8]", "cvttps2dq xmm5, xmmword ptr [rdi + 2]",
    "cvtpd2dq xmm0, xmmword ptr [rdi + 8]", "cvttpd2dq xmm0, xmmword ptr [rdi + 8]",
    "cvtps2dq xmm0, xmmword ptr [rdi + 8]"])
def test_misaligned_m128_raises_gp(asm):
    assert_faults("mov eax, 1", asm, 13)


@pytest.mark.parametrize("asm", ["rcpps xmm0, xmm1", "rcpss xmm0, xmm1", "rsqrtps xmm2, xmm3",
                                 "rsqrtss xmm4, dword ptr [rdi]"])
def test_approximations_are_unsupported(asm):
    """Their results differ between CPU models: dbt raises #UD rather than guess."""
    assert_faults("", asm, 6)
