"""x87 lifters (dbt/frontend/x86/sem_x87.py) checked against the host CPU.

Each check runs a loop natively and under both engines over records in the data
region (rsi points at the current record): the body loads a record's operands
(fld tbyte/qword/dword, fild), computes, and stores results and the status word
back into the record; the harness compares the whole region. Status words are
stored whole (C0-C3, TOP, the exception flags, ES and B), then the flags cleared
(fnclex), so each store holds the flags of the instructions since the last one. Every sequence
leaves the x87 stack empty and the control word 0x037F. Rounding control comes from
a control word placed at the start of the data ([rdi]; [rdi+2] holds the default).
"""
import random

import pytest

from .harness import check
from .native import DATA_ADDR, assemble

RCS = (0, 1, 2, 3)
HEADER = 16
ROOM = 0xE000                 # record bytes per check (the stack lives at the region's end)
SW = "fnstsw ax; fnclex; mov word ptr [rsi+{}], ax"      # the whole word; the flags then cleared
ZERO_XMM = "; ".join(f"pxor xmm{i}, xmm{i}" for i in range(16))      # fxsave stores them too


# -- values ------------------------------------------------------------------------------------
def f80(sign: int, exp: int, sig: int) -> int:
    return sign << 79 | exp << 64 | sig


ONE = f80(0, 0x3FFF, 1 << 63)
INF = f80(0, 0x7FFF, 1 << 63)
MAGNITUDES = [
    0, 1, (1 << 63) - 1, (1 << 63) | 1,                 # zero, denormals, a pseudo-denormal
    f80(0, 1, 1 << 63), f80(0, 0x7FFE, (1 << 64) - 1),    # min normal, max finite
    ONE, ONE + 1, f80(0, 0x3FFF, 3 << 62), f80(0, 0x4000, 3 << 62),        # 1, 1+ulp, 1.5, 3
    f80(0, 0x4000, 0xC90FDAA22168C235), f80(0, 0x3FFB, 0xCCCCCCCCCCCCCCCD),  # pi, 0.1
    f80(0, 0x3FFE, 1 << 63), f80(0, 0x4000, 5 << 61),     # 0.5, 2.5
    f80(0, 0x403E, (1 << 64) - 1), f80(0, 0x401D, 0xFFFFFFFF00000000),      # 2**64 - 1, 2**31 - 0.5
    f80(0, 0x3FBF, 1 << 63), f80(0, 0x3FFF + 16, 1 << 63),                  # 2**-64, 2**16
    INF, f80(0, 0x7FFF, 0xC000000000000ABC), f80(0, 0x7FFF, 0x8000000000001234),   # QNaN, SNaN
    f80(0, 0x3FFF, 1), f80(0, 0x7FFF, 0),                # unnormal, pseudo-infinity
]
EDGES = [m | s << 79 for m in MAGNITUDES for s in (0, 1)]


def random_f80(rng: random.Random, n: int) -> list[int]:
    """Any bits (mostly with the integer bit), and values near 1, the denormals and overflow."""
    out = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            exp = rng.getrandbits(15)
        else:
            centre = {1: 0x3FFF, 2: 1, 3: 0x7FFD}[kind]
            exp = max(0, min(0x7FFE, centre + rng.randint(-66, 3)))
        sig = rng.getrandbits(64)
        if exp and rng.random() < 0.95:
            sig |= 1 << 63
        out.append(f80(rng.getrandbits(1), exp, sig))
    return out


def edge_pairs(rng: random.Random, n_edge: int, n_random: int) -> list[tuple[int, int]]:
    pairs = rng.sample([(a, b) for a in EDGES for b in EDGES], n_edge)
    values = random_f80(rng, 2 * n_random)
    near = [(a, a ^ rng.getrandbits(4)) for a in values[:8]]         # close values: cancellation
    return pairs + list(zip(values[::2], values[1::2])) + near + [(ONE, f80(0, 0x4000, 3 << 62))]


def narrow(value: int, size: int) -> int:
    """The f32/f64 pattern of about the same value (sign, clamped exponent, top fraction bits)."""
    sign, exp, sig = value >> 79 & 1, value >> 64 & 0x7FFF, value & ((1 << 64) - 1)
    ebits, fbits = (8, 23) if size == 4 else (11, 52)
    emax = (1 << ebits) - 1
    e = emax if exp == 0x7FFF else 0 if exp == 0 else max(0, min(emax - 1, exp - 0x3FFF + (emax >> 1)))
    return sign << (ebits + fbits) | e << fbits | (sig >> (63 - fbits)) & ((1 << fbits) - 1)


def to_int(value: int, bits: int) -> int:
    """A bits-wide integer record field from the f80's significand (sign and size vary)."""
    sig = value & ((1 << 64) - 1)
    return (sig >> (64 - bits) if value >> 79 & 1 else sig >> (64 - bits + 1)) & ((1 << bits) - 1)


# -- running -----------------------------------------------------------------------------------
def le(value: int, size: int) -> bytes:
    return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


def run(body: str, records: list[bytes], rec_size: int, cw: int = 0x037F) -> None:
    """check() `body` once per record (rsi = the record), in chunks that fit the region."""
    per_run = ROOM // rec_size
    for start in range(0, len(records), per_run):
        chunk = records[start:start + per_run]
        data = bytearray(HEADER + len(chunk) * rec_size)
        data[0:4] = le(cw, 2) + le(0x037F, 2)
        for i, rec in enumerate(chunk):
            assert len(rec) <= rec_size
            data[HEADER + i * rec_size:HEADER + i * rec_size + len(rec)] = rec
        check(f"fnclex; fldcw word ptr [rdi]; lea rsi, [rdi+{HEADER}]; mov ecx, {len(chunk)}; "
              f"top: {body}; add rsi, {rec_size}; dec ecx; jnz top; fldcw word ptr [rdi+2]",
              regs={"rdi": DATA_ADDR}, data=bytes(data))


def cw_of(rc: int) -> int:
    return 0x037F | rc << 10


# -- loads, stores, conversions ------------------------------------------------------------------
STORE_BODY = "; ".join([
    "fld tbyte ptr [rsi]", "fst dword ptr [rsi+16]", SW.format(20), "fst qword ptr [rsi+24]", SW.format(32),
    "fist word ptr [rsi+34]", SW.format(36), "fist dword ptr [rsi+38]", SW.format(42),
    "fld st(0)", "fistp qword ptr [rsi+44]", SW.format(52),
    "fld st(0)", "fisttp word ptr [rsi+54]", SW.format(56), "fld st(0)", "fisttp dword ptr [rsi+58]",
    "fld st(0)", "fisttp qword ptr [rsi+62]", SW.format(70),
    "fld st(0)", "fistp word ptr [rsi+72]", "fld st(0)", "fistp dword ptr [rsi+74]",
    "fstp tbyte ptr [rsi+80]", SW.format(90)])


def halves(n: int) -> int:
    """The f80 of n / 2 (|n| < 2**64)."""
    x = abs(n)
    if x == 0:
        return 0
    e = x.bit_length() - 1
    return f80(int(n < 0), 0x3FFF + e - 1, x << (63 - e))


def int_edges() -> list[int]:
    """Values either side of every integer width's limits (m - 0.5, m, m + 0.5), and small halves."""
    out = []
    for bits in (16, 32, 64):
        for m in (1 << (bits - 1), (1 << (bits - 1)) - 1):
            out += [halves(s * n) for n in (2 * m - 1, 2 * m, 2 * m + 1) for s in (1, -1) if n < 1 << 64]
    return out + [halves(n) for n in (1, -1, 3, -3, 5, -5, 7, -7)]


@pytest.mark.parametrize("rc", RCS)
def test_fst_fist_fisttp(rc):
    values = EDGES + int_edges() + random_f80(random.Random(rc), 60)
    run(STORE_BODY, [le(v, 16) for v in values], 96, cw_of(rc))


LOAD_BODY = "; ".join([
    "fld dword ptr [rsi]", "fstp tbyte ptr [rsi+16]", "fld qword ptr [rsi+4]", SW.format(26),
    "fstp tbyte ptr [rsi+28]", "fild word ptr [rsi+38]", "fstp tbyte ptr [rsi+40]",
    "fild dword ptr [rsi+50]", "fstp tbyte ptr [rsi+54]", "fild qword ptr [rsi+64]", SW.format(72),
    "fstp tbyte ptr [rsi+74]"])


@pytest.mark.parametrize("rc", (0, 2))
def test_fld_fild(rc):
    rng = random.Random(10 + rc)
    values = EDGES + random_f80(rng, 60)
    f32s = [0x7F800001, 0x7FBFFFFF, 0xFFC00001, 0x00000001, 0x80400000, 0x7F7FFFFF]
    recs = []
    for i, v in enumerate(values):
        f32 = f32s[i] if i < len(f32s) else narrow(v, 4)
        ints = (to_int(v, 16), to_int(v, 32), to_int(v, 64)) if i > 8 else \
            [(0x8000, 0x80000000, 1 << 63), (0x7FFF, 0x7FFFFFFF, (1 << 63) - 1), (0, 0, 0),
             (0xFFFF, 0xFFFFFFFF, (1 << 64) - 1), (1, 1, 1), (2, 3, (1 << 64) - 2), (5, 7, 1 << 53 | 1),
             (0x1234, 1 << 24 | 1, (1 << 62) + 1), (0xFFFE, 0x80000001, (1 << 63) + 1)][i]
        recs.append(le(f32, 4) + le(narrow(v, 8), 8) + bytes(26) + le(ints[0], 2) + bytes(10)
                    + le(ints[1], 4) + bytes(10) + le(ints[2], 8))
    run(LOAD_BODY, recs, 88, cw_of(rc))


def test_constants():
    body = "; ".join(f"{insn}; {SW.format(160 + 2 * k)}; fstp tbyte ptr [rsi+{16 * k}]" for k, insn in
                     enumerate(("fldpi", "fldl2e", "fldl2t", "fldlg2", "fldln2", "fld1", "fldz")))
    for rc in RCS:
        run(body, [b""], 176, cw_of(rc))


# -- arithmetic --------------------------------------------------------------------------------
def arith_body(op: str) -> str:
    """Every operand form of f<op>: D8 st(0),st(i); DC st(i),st(0); DE ...p; m32; m64; m16int; m32int.
    Record: a @0, b @16, b as f32 @32, f64 @40, int16 @48, int32 @52; results from 64."""
    forms = [
        f"fld tbyte ptr [rsi+16]; fld tbyte ptr [rsi]; f{op} st(0), st(1); {SW.format(74)}; "
        "fstp tbyte ptr [rsi+64]; fstp st(0)",
        f"fld tbyte ptr [rsi]; fld tbyte ptr [rsi+16]; f{op} st(1), st(0); {SW.format(86)}; "
        "fstp st(0); fstp tbyte ptr [rsi+76]",
        f"fld tbyte ptr [rsi]; fld tbyte ptr [rsi+16]; f{op}p st(1), st(0); {SW.format(98)}; "
        "fstp tbyte ptr [rsi+88]",
        f"fld tbyte ptr [rsi]; f{op} dword ptr [rsi+32]; {SW.format(110)}; fstp tbyte ptr [rsi+100]",
        f"fld tbyte ptr [rsi]; f{op} qword ptr [rsi+40]; {SW.format(122)}; fstp tbyte ptr [rsi+112]",
        f"fld tbyte ptr [rsi]; fi{op} word ptr [rsi+48]; {SW.format(134)}; fstp tbyte ptr [rsi+124]",
        f"fld tbyte ptr [rsi]; fi{op} dword ptr [rsi+52]; {SW.format(146)}; fstp tbyte ptr [rsi+136]",
    ]
    return "; ".join(forms)


def arith_records(seed: str) -> list[bytes]:
    rng = random.Random(seed)
    recs = []
    special32 = [0x7F800001, 0x7FBFFFFF, 0xFFC00000, 0x00000001, 0x7F800000]
    for i, (a, b) in enumerate(edge_pairs(rng, 90, 40)):
        c32 = special32[i % 8] if i % 8 < len(special32) else narrow(b, 4)
        c64 = narrow(b, 8) if i % 3 else narrow(b, 8) | 1
        recs.append(le(a, 16) + le(b, 16) + le(c32, 4) + bytes(4) + le(c64, 8)
                    + le(to_int(b, 16), 2) + bytes(2) + le(to_int(b, 32), 4))
    return recs


@pytest.mark.parametrize("rc", RCS)
@pytest.mark.parametrize("op", ["add", "sub", "subr", "mul", "div", "divr"])
def test_arithmetic(op, rc):
    run(arith_body(op), arith_records(f"{op}-{rc}"), 148, cw_of(rc))


UNARY_BODY = "; ".join([
    f"fld tbyte ptr [rsi]; fsqrt; {SW.format(26)}; fstp tbyte ptr [rsi+16]",
    f"fld tbyte ptr [rsi]; frndint; {SW.format(38)}; fstp tbyte ptr [rsi+28]",
    f"fld tbyte ptr [rsi]; fchs; {SW.format(50)}; fstp tbyte ptr [rsi+40]",
    f"fld tbyte ptr [rsi]; fabs; {SW.format(62)}; fstp tbyte ptr [rsi+52]",
    f"fld tbyte ptr [rsi]; fxtract; {SW.format(84)}; fstp tbyte ptr [rsi+64]; fstp tbyte ptr [rsi+74]"])


@pytest.mark.parametrize("rc", RCS)
def test_sqrt_rndint_chs_abs_fxtract(rc):
    values = EDGES + int_edges() + random_f80(random.Random(20 + rc), 80)
    run(UNARY_BODY, [le(v, 16) for v in values], 88, cw_of(rc))


BINARY_BODY = "; ".join(
    f"fld tbyte ptr [rsi+16]; fld tbyte ptr [rsi]; {insn}; {SW.format(42 + 12 * k)}; "
    f"fstp tbyte ptr [rsi+{32 + 12 * k}]; fstp tbyte ptr [rsi+{80 + 12 * k}]"
    for k, insn in enumerate(("fscale", "fprem", "fprem1", "fxch st(1)")))


def scale_values(rng: random.Random) -> list[int]:
    def num(x: int) -> int:
        if x == 0:
            return 0
        e = abs(x).bit_length() - 1
        return f80(int(x < 0), 0x3FFF + e, abs(x) << (63 - e))
    ints = [0, 1, -1, 2, 16383, -16383, 16384, -16382, -16445, -16446, -16500, 32767, -32800,
            65535, -65536, 70000, -1000000, 1 << 40, -(1 << 62)]
    ints += [rng.randint(-20000, 20000) for _ in range(12)]
    return [num(x) for x in ints] + [f80(0, 0x3FFE, 3 << 62), f80(1, 0x3FFF, 3 << 62),   # 0.75, -1.5
                                     f80(0, 0x400D, 0xFFFFF00000000000),               # 32767.9
                                     INF, INF | 1 << 79, f80(0, 0x7FFF, 0xC000000000000001), 1,
                                     f80(0, 0x7FFF, 0x8000000000000007), f80(0, 0x3FFF, 5)]


def binary_records(seed: int) -> list[bytes]:
    rng = random.Random(seed)
    scales = scale_values(rng)
    pairs = edge_pairs(rng, 80, 30)
    pairs += [(a, rng.choice(scales)) for a in EDGES + random_f80(rng, 40)]
    for _ in range(60):                    # remainders with every exponent difference
        eb = rng.randint(1, 0x7FF0)
        ea = max(1, min(0x7FFE, eb + rng.choice([rng.randint(-3, 70), rng.randint(60, 5000)])))
        pairs.append((f80(rng.getrandbits(1), ea, 1 << 63 | rng.getrandbits(63)),
                      f80(rng.getrandbits(1), eb, 1 << 63 | rng.getrandbits(63))))
    pairs += [(f80(0, 0x3FFE, 3 << 62), ONE), (f80(0, 0x3FFE, 1 << 63), ONE), (f80(0, 0x4000, 5 << 61), ONE),
              (f80(0, 0x4000, 7 << 61), ONE), (f80(1, 0x4000, 3 << 62), f80(0, 0x4000, 1 << 63)),
              (f80(0, 0x0000, 12345), f80(0, 0x0000, 100)), (f80(0, 0x0005, 1 << 63 | 77), f80(0, 0, 3))]
    return [le(a, 16) + le(b, 16) for a, b in pairs]


@pytest.mark.parametrize("rc", RCS)
def test_fscale_fprem_fxch(rc):
    run(BINARY_BODY, binary_records(30 + rc), 128, cw_of(rc))


def test_fprem_loop_is_fmod():
    """glibc's fmodl: fprem until C2 clears; and remainderl with fprem1."""
    body = "; ".join(
        f"fld tbyte ptr [rsi+16]; fld tbyte ptr [rsi]; again{k}: {insn}; fnstsw ax; test ah, 4; "
        f"jnz again{k}; {SW.format(42 + 12 * k)}; fstp tbyte ptr [rsi+{32 + 12 * k}]; fstp st(0)"
        for k, insn in enumerate(("fprem", "fprem1")))
    rng = random.Random(5)
    pairs = []
    for _ in range(20):
        eb = rng.randint(1, 0x7000)
        pairs.append((f80(rng.getrandbits(1), eb + rng.randint(0, 1500), 1 << 63 | rng.getrandbits(63)),
                      f80(rng.getrandbits(1), eb, 1 << 63 | rng.getrandbits(63))))
    pairs += [(f80(0, 0x43FF, (1 << 64) - 1), f80(0, 0x3FFF, 1 << 63 | 1)),
              (f80(0, 0x4100, 1 << 63), f80(0, 0x4000, 0xC90FDAA22168C235)), (f80(0, 0x40, 1 << 63), 3)]
    run(body, [le(a, 16) + le(b, 16) for a, b in pairs], 64)


# -- comparisons and classification ---------------------------------------------------------------
COMPARE_BODY = "; ".join([
    f"fld tbyte ptr [rsi+16]; fld tbyte ptr [rsi]; fcom st(1); {SW.format(48)}; "
    f"fucom st(1); {SW.format(50)}; "
    f"fcom dword ptr [rsi+32]; {SW.format(52)}; fcom qword ptr [rsi+36]; {SW.format(54)}; "
    f"ficom word ptr [rsi+44]; {SW.format(56)}; ficom dword ptr [rsi+60]; {SW.format(58)}; "
    f"ftst; {SW.format(64)}; fxam; {SW.format(66)}; fcompp; {SW.format(68)}",
    f"fld tbyte ptr [rsi+16]; fld tbyte ptr [rsi]; fucomp st(1); {SW.format(70)}; fstp st(0)",
    f"fld tbyte ptr [rsi+16]; fld tbyte ptr [rsi]; fld st(0); fcomp st(2); {SW.format(72)}; "
    f"fucompp; {SW.format(74)}",
    "fld tbyte ptr [rsi+16]; fld tbyte ptr [rsi]; fcomp dword ptr [rsi+32]; ficomp word ptr [rsi+44]; "
    f"{SW.format(76)}",
    "fld tbyte ptr [rsi+16]; fld tbyte ptr [rsi]; fcomi st(0), st(1); lahf; seto al; mov [rsi+78], ax; "
    "fucomi st(0), st(1); lahf; seto al; mov [rsi+80], ax; fcomip st(0), st(1); lahf; seto al; "
    "mov [rsi+82], ax; fld tbyte ptr [rsi]; fucomip st(0), st(1); lahf; seto al; mov [rsi+84], ax; "
    f"{SW.format(86)}; fstp st(0)",
    f"fld tbyte ptr [rsi]; fxam; {SW.format(88)}; fstp st(0); fxam; {SW.format(90)}"])


@pytest.mark.parametrize("seed", (1, 2))
def test_compare_and_classify(seed):
    rng = random.Random(40 + seed)
    pairs = edge_pairs(rng, 150, 30) + [(v, v) for v in EDGES[:20]] + [(a, a ^ 1 << 79) for a in EDGES[:6]]
    recs = [le(a, 16) + le(b, 16) + le(narrow(b, 4), 4) + le(narrow(b, 8), 8) + le(to_int(b, 16), 2)
            + bytes(14) + le(to_int(b, 32), 4) for a, b in pairs]
    run(COMPARE_BODY, recs, 96)


def test_tag_word_and_fxam_of_empty():
    """fnstenv's tag word classifies each register (valid, zero, special, empty); only CW, SW
    and TW are compared (FIP/FDP/FOP are not modelled) and the status word is masked."""
    values = [ONE, 0, 1, INF, f80(0, 0x7FFF, 0xC000000000000001), f80(0, 0x3FFF, 1), 1 << 79,
              f80(0, 1, 1 << 63)]
    recs = []
    for i in range(8):
        order = values[i:] + values[:i]
        recs.append(b"".join(le(v, 16) for v in order))
    loads = "; ".join(f"fld tbyte ptr [rsi+{16 * k}]" for k in range(8))
    env = ("fnstenv [rsi+128]; and word ptr [rsi+132], 0x7f00; mov qword ptr [rsi+140], 0; "
           "mov qword ptr [rsi+148], 0")
    body = (f"{loads}; ffree st(3); fstp st(0); fstp st(0); {env}; fldcw word ptr [rdi+2]; fincstp; fincstp; "
            f"fdecstp; fxam; {SW.format(160)}; fdecstp; {SW.format(162)}; fstp tbyte ptr [rsi+164]; "
            f"ffreep st(1); fxam; {SW.format(174)}; ffree st(0); ffree st(1); ffree st(2); fincstp; fincstp; "
            "fnstenv [rsi+176]; and word ptr [rsi+180], 0x7f00; mov qword ptr [rsi+188], 0; "
            "mov qword ptr [rsi+196], 0; fldcw word ptr [rdi+2]; fninit")
    run(body, recs, 208)


# -- control, environment, stack -------------------------------------------------------------------
def test_control_word_and_status_word():
    words = [0x037F, 0, 0xFFFF, 0x0C7F, 0x1234, 0x0040, 0x0F3F, 0x8080]
    body = ("fldcw word ptr [rsi]; fnstcw word ptr [rsi+2]; fld1; fldz; fnstsw word ptr [rsi+4]; "
            "and word ptr [rsi+4], 0x7f00; fnstsw ax; and eax, 0x7f00; mov [rsi+6], ax; fstp st(0); fnclex; "
            "fstp st(0); wait; fnop; fnstenv [rsi+8]; fnstcw word ptr [rsi+36]; fldcw word ptr [rdi+2]; "
            "and word ptr [rsi+12], 0x7f00; mov qword ptr [rsi+20], 0; mov dword ptr [rsi+28], 0")
    run(body, [le(w, 2) for w in words], 40)


STACK_VALUES = [f80(0, 0x3FFF + k, 1 << 63 | k * 0x1111) for k in range(8)]


def stack_body(op: str) -> str:
    """Fill all eight registers, run `op`, then pop and store all eight (the stack ends empty)."""
    loads = "; ".join(f"fld tbyte ptr [rsi+{16 * k}]" for k in range(8))
    stores = "; ".join(f"fstp tbyte ptr [rsi+{128 + 10 * k}]" for k in range(8))
    return f"{loads}; {op}; {SW.format(208)}; {stores}; {SW.format(210)}"


@pytest.mark.parametrize("op", [
    "fxch st(1)", "fxch st(7)", "fxch", "fstp st(0); fld st(3); fstp st(5); fld st(6)", "fst st(7)",
    "fstp st(0); fld st(6)", "fstp st(2); fld1", "fincstp; fincstp; fdecstp", "fdecstp", "ffree st(7); fld1",
    "ffreep st(0); fldpi",
    "fstp st(0); fstp st(0); fld st(5); fld st(0)", "fchs; fxch st(4); fabs",
])
def test_stack_moves(op):
    run(stack_body(op), [b"".join(le(v, 16) for v in STACK_VALUES)], 212)


def test_condition_codes_left_by_ffree_fcomi_fcmov_fldcw():
    """What the SDM leaves undefined, as the host does it: after fxam of -1 (C1 C2 set)."""
    ops = ["ffree st(0); fincstp", "ffreep st(0)", "fld1; fcomip st(0), st(1); fstp st(0)",
           "fld1; fcmovnb st(0), st(1); fstp st(0); fstp st(0)", "fldcw word ptr [rdi+2]; fstp st(0)",
           "fnclex; wait; fnop; fstp st(0)", "fld1; fucomi st(0), st(1); fstp st(0); fstp st(0)"]
    asm = "; ".join(f"fld1; fchs; fxam; {op}; fnstsw ax; and ax, 0x7f00; mov [rdi+{0x100 + 2 * k}], ax"
                    for k, op in enumerate(ops))
    check(asm, regs={"rdi": DATA_ADDR}, data=bytes(2) + le(0x037F, 2))


def test_encodings_keystone_lacks():
    """fstp1 (d9 d8+i, capstone's fstpnce) and the 8087 no-ops feni/fdisi/fsetpm (db e0/e1/e4)."""
    code = (assemble("fld1; fldpi; fld tbyte ptr [rdi]") + bytes.fromhex("d9da dbe0 dbe1 dbe4")
            + assemble(f"{SW.replace('rsi', 'rdi').format(0x100)}; fstp tbyte ptr [rdi+0x110]; "
                       "fstp tbyte ptr [rdi+0x120]"))
    check(code, regs={"rdi": DATA_ADDR}, data=le(f80(1, 0x4000, 5 << 61), 16))


@pytest.mark.parametrize("cond", ["b", "nb", "e", "ne", "be", "nbe", "u", "nu"])
def test_fcmov(cond):
    body = (f"mov ah, [rsi]; sahf; fld tbyte ptr [rsi+16]; fld tbyte ptr [rsi+32]; fcmov{cond} st(0), st(1); "
            f"{SW.format(2)}; fstp tbyte ptr [rsi+48]; fstp st(0)")
    recs = [bytes([ah]) + bytes(15) + le(ONE, 16) + le(INF, 16) for ah in range(0, 0x48) if ah & ~0x45 == 0]
    run(body, recs, 64)


def test_fxsave_fxrstor_and_fninit():
    """fxsave stores ST0-7 in stack order (stale contents of empty registers included);
    fninit keeps the registers (TOP 0 renumbers them); fxrstor loads them back."""
    loads = "; ".join(f"fld tbyte ptr [rdi+{16 + 16 * k}]" for k in range(8))
    scrub = ("mov qword ptr [rdi+{0}+8], 0; mov qword ptr [rdi+{0}+16], 0; and word ptr [rdi+{0}+2], 0x7f00; "
             "and dword ptr [rdi+{0}+24], 0xffc0")           # pointers, exception and MXCSR flags
    asm = "; ".join([
        ZERO_XMM, loads, "fstp st(0); fstp st(0); fstp st(0); ffree st(1); fld1",
        "fxsave [rdi+0x200]", scrub.format(0x200),
        "fninit; fxsave [rdi+0x400]", scrub.format(0x400),
        "mov word ptr [rdi+0x600], 0x0b7f; mov word ptr [rdi+0x602], 0x2000; mov byte ptr [rdi+0x604], 0x3d",
        "mov dword ptr [rdi+0x618], 0x1f80; mov dword ptr [rdi+0x61c], 0xffff; fxrstor [rdi+0x600]",
        "fnstcw word ptr [rdi+0x100]; fnstsw word ptr [rdi+0x102]; and word ptr [rdi+0x102], 0x7f00",
        "fnstenv [rdi+0x104]; mov qword ptr [rdi+0x110], 0; mov qword ptr [rdi+0x118], 0",
        "fldcw word ptr [rdi+0x120]; fxam; fnstsw word ptr [rdi+0x122]; fstp tbyte ptr [rdi+0x130]",
        "fstp tbyte ptr [rdi+0x140]; fxam; fnstsw ax; and ax, 0x7f00; mov [rdi+0x124], ax; fninit"])
    rng = random.Random(9)
    data = bytearray(0x800)
    for k, v in enumerate(STACK_VALUES):
        data[16 + 16 * k:32 + 16 * k] = le(v, 16)
    data[0x120:0x122] = le(0x037F, 2)
    for k in range(8):          # fxrstor's registers: f80 values with junk in the 6 bytes above
        data[0x620 + 16 * k:0x630 + 16 * k] = le(random_f80(rng, 1)[0] | rng.getrandbits(48) << 80, 16)
    check(asm, regs={"rdi": DATA_ADDR}, data=bytes(data))


def test_every_state_instruction_sees_the_exception_flags():
    """Flags raised by x87 (1/0: ZE; fst m32 of 1e-4000: UE PE) and SSE (divsd 0/0: IE;
    addsd of a denormal: DE) reach fnstsw, fnstenv, fnsave, fxsave and stmxcsr; fnclex,
    fninit, fnsave, fldenv, frstor, fxrstor and ldmxcsr set them. Pointer fields (not modelled) are zeroed; the
    x87 registers start as zeros (fxsave stores empty ones too)."""
    fxsave_scrub = ("mov qword ptr [rdi+{0}+8], 0; mov qword ptr [rdi+{0}+16], 0; "
                    "mov qword ptr [rdi+{0}+0xa0], 0")
    env_scrub = "mov dword ptr [rdi+{0}+12], 0; mov qword ptr [rdi+{0}+16], 0"
    asm = "; ".join([
        ZERO_XMM, "fninit; ldmxcsr dword ptr [rdi]", "; ".join(["fldz"] * 8 + ["fstp st(0)"] * 8),
        "fld1; fldz; fdivp st(1), st(0); fld tbyte ptr [rdi+0x10]; fstp dword ptr [rdi+0x20]",
        "fnstsw word ptr [rdi+0x30]; fnstenv [rdi+0x40]", env_scrub.format(0x40), "fldcw word ptr [rdi+4]",
        "movsd xmm0, qword ptr [rdi+0x28]; addsd xmm0, xmm0; pxor xmm1, xmm1; divsd xmm1, xmm1",
        "stmxcsr dword ptr [rdi+0x60]; fxsave [rdi+0x200]", fxsave_scrub.format(0x200),
        "fnclex; fnstsw word ptr [rdi+0x62]; fldenv [rdi+0x40]; fnstsw word ptr [rdi+0x64]",
        "fninit; fnstsw word ptr [rdi+0x66]; ldmxcsr dword ptr [rdi+8]; stmxcsr dword ptr [rdi+0x68]",
        "fxrstor [rdi+0x200]; fnstsw word ptr [rdi+0x6c]; stmxcsr dword ptr [rdi+0x70]",
        "fxsave [rdi+0x400]", fxsave_scrub.format(0x400),
        "fnsave [rdi+0x600]", env_scrub.format(0x600), "fnstsw word ptr [rdi+0x74]; fnstcw word ptr [rdi+0x76]",
        "fld1; fldpi; frstor [rdi+0x600]; fnstsw word ptr [rdi+0x78]; fstp tbyte ptr [rdi+0x80]",
        "fstp st(0); fninit; ldmxcsr dword ptr [rdi]"])
    data = bytearray(0x800)
    data[0:10] = le(0x1F80, 4) + le(0x037F, 2) + bytes(2) + le(0x1F80 | 0x2A, 2)
    data[0x10:0x20] = le(f80(0, 0x3FFF - 4000, 1 << 63), 16)
    data[0x28:0x30] = le(1, 8)
    check(asm, regs={"rdi": DATA_ADDR}, data=bytes(data))


@pytest.mark.parametrize("top", range(8))
def test_fldenv_moves_top(top):
    """fldenv with another TOP renumbers the registers; its tag word's empty marks are kept."""
    loads = "; ".join(f"fld tbyte ptr [rsi+{16 * k}]" for k in range(8))
    body = (f"{ZERO_XMM}; {loads}; fnstenv [rsi+128]; fldcw word ptr [rdi+2]; mov ax, [rsi+132]; "
            "and ax, 0xc7ff; "
            f"or ax, {top << 11}; mov [rsi+132], ax; mov word ptr [rsi+136], 0x33c3; fldenv [rsi+128]; "
            f"fxsave [rsi+160]; mov qword ptr [rsi+168], 0; mov qword ptr [rsi+176], 0; "
            "and word ptr [rsi+162], 0x7f00; and dword ptr [rsi+184], 0xffc0; fninit; "
            "mov dword ptr [rsi+140], 0; mov qword ptr [rsi+144], 0")
    run(body, [b"".join(le(v, 16) for v in STACK_VALUES)], 704)


# -- transcendentals: the host's results, the stack moves, C0-C3 and the flags -------------------
TRANSCENDENTAL = {"fsin": 2, "fcos": 2, "f2xm1": 2, "fpatan": 1, "fyl2x": 1, "fyl2xp1": 1,
                  "fptan": 3, "fsincos": 3}      # registers left (fptan/fsincos: 2 when C2 = 1)


def transcendental_body() -> str:
    """Record: ST0 @0, ST1 @16; per instruction the status word and two results, 22 bytes from 32."""
    parts = []
    for k, (insn, left) in enumerate(TRANSCENDENTAL.items()):
        at = 32 + 22 * k
        stores = f"fstp tbyte ptr [rsi+{at + 2}]" + (f"; fstp tbyte ptr [rsi+{at + 12}]" if left > 1 else "")
        parts.append(f"fld tbyte ptr [rsi+16]; fld tbyte ptr [rsi]; {insn}; {SW.format(at)}; {stores}"
                     + ("; fninit; fldcw word ptr [rdi]" if left == 3 else ""))
    return "; ".join(parts)


def transcendental_operands(rng: random.Random) -> list[tuple[int, int]]:
    """Edge pairs, random pairs, and each function's domain: |x| <= 1 (f2xm1), |x| < 0.29
    (fyl2xp1), up to and past 2**63 (the reduction of fsin fcos fptan; C2 beyond), near
    multiples of pi/2, and y > 0 for fyl2x."""
    pairs = edge_pairs(rng, 60, 30)
    for _ in range(24):
        small = f80(rng.getrandbits(1), 0x3FFF - rng.randint(0, 70), 1 << 63 | rng.getrandbits(63))
        big = f80(rng.getrandbits(1), 0x3FFF + rng.randint(0, 64), 1 << 63 | rng.getrandbits(63))
        pairs += [(small, big), (big, small), (f80(0, 0x3FFF + rng.randint(-3, 3), 1 << 63 | rng.getrandbits(63)),
                                               small)]
    pi_half = 0xC90FDAA22168C235
    pairs += [(f80(s, 0x3FFF + k, pi_half + d), ONE) for s in (0, 1) for k in (0, 1, 2, 10) for d in (-1, 0, 1)]
    pairs += [(f80(s, 0x403E, 1 << 63), ONE) for s in (0, 1)]                          # 2**63: C2
    pairs += [(f80(s, 0x403D, (1 << 64) - 1), ONE) for s in (0, 1)]                    # just below
    return pairs


@pytest.mark.parametrize("rc", RCS)
def test_transcendentals(rc):
    rng = random.Random(f"transcendental-{rc}")
    recs = [le(a, 16) + le(b, 16) for a, b in transcendental_operands(rng)]
    run(transcendental_body(), recs, 32 + 22 * len(TRANSCENDENTAL), cw_of(rc))