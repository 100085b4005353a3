"""Float ops: the LLVM lowering against the interpreter (softfloat), bit for bit.

Every op at every format, under every rounding control given three ways (a
constant 0: the inline fast path; a constant 1-3: the mode-switching helper;
a run-time value: both behind a branch), on edge encodings and seeded random
ones; constant operands (LLVM's own folding); builder type checks; values
worked by hand. softfloat itself is checked against the host CPU in
tests/oracle/test_float_host.py.
"""
import random

import pytest

from dbt.backend import softfloat as sf
from dbt.backend.interp import evaluate
from dbt.ir.builder import IRError, new_block
from dbt.ir.exits import ExitReason
from dbt.ir.ops import FLOAT_FORMATS, FLOAT_PREDICATES, Ty
from dbt.ir.verify import verify

FMTS = ("f32", "f64", "f80")
M64 = (1 << 64) - 1
RC_MODES = ("dynamic", 0, 1, 2, 3)       # rc from a register, or a constant
SCRATCH = 0x1000                         # guest memory for results of constant-operand blocks


def edge_values(fmt: sf.Format) -> list[int]:
    """Both signs of: 0, min/max subnormal, min normal, 1, 1 +- ulp, 1.5, 0.1, 2**-p
    (half an ulp of 1) and 1.5 * 2**-p, max, inf, QNaN and SNaN with payloads; f80 adds an
    unnormal, a pseudo-denormal, a pseudo-NaN and a pseudo-infinity."""
    s = fmt.sig_bits
    half_ulp = (fmt.bias - fmt.precision) << s | fmt.int_bit
    below_one = ((fmt.bias - 1) << s) | fmt.int_bit | fmt.frac_mask
    tenth = sf.binary("fdiv", fmt, fmt.one, sf.from_int(fmt, 10, 32, 0), 0)
    mags = [0, 1, fmt.frac_mask, 1 << s | fmt.int_bit, fmt.one, fmt.one + 1, below_one,
            fmt.one | fmt.quiet_bit, tenth, half_ulp, half_ulp | fmt.quiet_bit, fmt.max_finite,
            fmt.inf, fmt.inf | fmt.quiet_bit | 0x5A5, fmt.inf | 0x1234,
            (fmt.bias + fmt.precision - 2) << s | fmt.int_bit | 5]            # has a .5 part
    if fmt.explicit:
        mags += [fmt.one ^ fmt.int_bit, 1 << 63 | 1, fmt.inf ^ fmt.int_bit | 7, fmt.inf ^ fmt.int_bit]
    return [m | sign for m in mags for sign in (0, fmt.sign_bit)]


def random_values(fmt: sf.Format, rng: random.Random, n: int) -> list[int]:
    out = []
    for i in range(n):
        if i % 2:
            bits = rng.getrandbits(fmt.width)
        else:               # near 1, so sums and products round rather than saturate
            e = fmt.bias + rng.randint(-fmt.precision, fmt.precision)
            bits = e << fmt.sig_bits | rng.getrandbits(fmt.frac_bits) | (rng.getrandbits(1) << (fmt.width - 1))
        if fmt.explicit and rng.random() < 0.9:
            bits |= fmt.int_bit
        out.append(bits)
    return out


def singles(fmt: sf.Format, seed: int) -> list[int]:
    return edge_values(fmt) + random_values(fmt, random.Random(seed), 60)


def pairs(fmt: sf.Format, seed: int) -> list[tuple[int, int]]:
    edges = edge_values(fmt)
    rnd = random_values(fmt, random.Random(seed), 240)
    return [(a, b) for a in edges for b in edges] + list(zip(rnd[::2], rnd[1::2]))


def ints(width: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    fixed = [0, 1, -1, 2**24 + 1, -(2**24 + 1), 2**31 - 1, -2**31, 2**53 + 1, 2**63 - 1, -2**63, 2**62 + 2**9 + 1]
    values = fixed + [rng.getrandbits(rng.choice((8, 25, 32, 54, 64))) * rng.choice((1, -1)) for _ in range(40)]
    return sorted({v & ((1 << width) - 1) for v in values})


# -- building and running one-op blocks ----------------------------------------------------------
def _operand(b, ty: Ty, lo: str, hi: str):
    x = b.get(lo, Ty.I64)
    if ty != Ty.I128:
        return b.resize(x, ty)
    return b.or_(b.shl(b.zext(b.get(hi, Ty.I64), Ty.I128), 64), b.zext(x, Ty.I128))


def build(make, in_tys: tuple[Ty, ...], rc_mode):
    """A block: operands from (rax, rdx) and (rbx, rsi), rc from rcx or a constant; result in (rdi, r8)."""
    block, b = new_block(0)
    args = [_operand(b, ty, lo, hi) for ty, (lo, hi) in zip(in_tys, (("rax", "rdx"), ("rbx", "rsi")))]
    rc = b.get("rcx", Ty.I64) if rc_mode == "dynamic" else rc_mode
    r = make(b, args, rc)
    if r.ty == Ty.I128:
        b.put("rdi", b.trunc(r, Ty.I64))
        b.put("r8", b.trunc(b.lshr(r, 64), Ty.I64))
    else:
        b.put("rdi", b.zext(r, Ty.I64))
    b.exit(ExitReason.SYSCALL, 0)
    verify(block.ops)
    return block


def run(emu, code, operands: tuple[int, ...], rc: int) -> int:
    c = emu.cpu
    for v, (lo, hi) in zip(operands, (("rax", "rdx"), ("rbx", "rsi"))):
        setattr(c, lo, v & M64)
        setattr(c, hi, v >> 64)
    c.rcx, c.rdi, c.r8 = rc, 0, 0
    emu.engine.execute(code)
    return (c.r8 << 64) | c.rdi


@pytest.fixture(scope="module")
def engines():
    from dbt.api import Emulator
    pair = Emulator("jit"), Emulator("interp")
    for emu in pair:
        emu.map(SCRATCH, 0x1000, perms="rw")
    return pair


def agree(engines, make, in_tys, inputs, label: str, rc_modes=RC_MODES) -> int:
    """Compile make's block per rc mode on both engines; assert equal results on every input."""
    checked = 0
    for mode in rc_modes:
        block = build(make, in_tys, mode)
        codes = [emu.engine.compile(block) for emu in engines]
        for rc in ((0, 1, 2, 3, 7) if mode == "dynamic" else (mode,)):
            for ops in inputs:
                got = [run(emu, code, ops, rc) for emu, code in zip(engines, codes)]
                assert got[0] == got[1], (f"{label} rc={rc} ({mode}) operands "
                                          f"{', '.join(hex(o) for o in ops)}: jit {got[0]:#x} interp {got[1]:#x}")
                checked += 1
    return checked


# -- LLVM == interpreter ---------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("name", ["fadd", "fsub", "fmul", "fdiv"])
def test_arithmetic(engines, name, fmt):
    ty = FLOAT_FORMATS[fmt]
    agree(engines, lambda b, x, rc: b.fbinary(name, fmt, x[0], x[1], rc), (ty, ty),
          pairs(sf.FORMATS[fmt], seed=len(name)), f"{name} {fmt}")


@pytest.mark.parametrize("fmt", FMTS)
def test_sqrt_and_round(engines, fmt):
    ty, values = FLOAT_FORMATS[fmt], [(v,) for v in singles(sf.FORMATS[fmt], seed=3)]
    agree(engines, lambda b, x, rc: b.fsqrt(fmt, x[0], rc), (ty,), values, f"fsqrt {fmt}")
    agree(engines, lambda b, x, rc: b.fround(fmt, x[0], rc), (ty,), values, f"fround {fmt}")


@pytest.mark.parametrize("fmt", FMTS)
def test_compare_min_max(engines, fmt):
    ty, ops = FLOAT_FORMATS[fmt], pairs(sf.FORMATS[fmt], seed=5)
    for pred in FLOAT_PREDICATES:
        agree(engines, lambda b, x, rc: b.fcmp(pred, fmt, x[0], x[1]), (ty, ty), ops, f"fcmp {pred} {fmt}", (0,))
    agree(engines, lambda b, x, rc: b.fmin(fmt, x[0], x[1]), (ty, ty), ops, f"fmin {fmt}", (0,))
    agree(engines, lambda b, x, rc: b.fmax(fmt, x[0], x[1]), (ty, ty), ops, f"fmax {fmt}", (0,))


@pytest.mark.parametrize("src", FMTS)
def test_conversions(engines, src):
    S, ty = sf.FORMATS[src], FLOAT_FORMATS[src]
    values = [(v,) for v in singles(S, seed=9)]
    near_ints = [sf.from_int(S, n & M64, 64, 0) for n in (2**31, -2**31, 2**63, -2**63, 5)]
    values += [((v + d) & ((1 << S.width) - 1),) for v in near_ints for d in (-1, 0, 1)]
    for dst in FMTS:
        if dst != src:
            agree(engines, lambda b, x, rc: b.fcvt(src, dst, x[0], rc), (ty,), values, f"fcvt {src}->{dst}")
    for bits in (32, 64):
        agree(engines, lambda b, x, rc: b.fcvt_to_int(src, bits, x[0], rc), (ty,), values,
              f"fcvt_to_int {src} i{bits}")
        agree(engines, lambda b, x, rc: b.fcvt_from_int(src, x[0], rc), (Ty(bits),),
              [(v,) for v in ints(bits, seed=bits)], f"fcvt_from_int i{bits} {src}")


@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("sticky", [0, 0x21])
def test_exception_flags(engines, fmt, sticky):
    """fexc: the LLVM lowering runs the host instruction, the interpreter softfloat; the sticky
    flags given are kept."""
    F, ty = sf.FORMATS[fmt], FLOAT_FORMATS[fmt]
    ops2, ops1 = pairs(F, seed=11), [(v,) for v in singles(F, seed=12)]
    modes = ("dynamic", 2)

    def flags(b, r, signaling=False):
        return b.fexc(r, b.const(Ty.I32, sticky), signaling)
    for name in ("fadd", "fsub", "fmul", "fdiv"):
        agree(engines, lambda b, x, rc: flags(b, b.fbinary(name, fmt, x[0], x[1], rc)), (ty, ty), ops2,
              f"fexc {name} {fmt}", modes)
    agree(engines, lambda b, x, rc: flags(b, b.fsqrt(fmt, x[0], rc)), (ty,), ops1, f"fexc fsqrt {fmt}", modes)
    agree(engines, lambda b, x, rc: flags(b, b.fround(fmt, x[0], rc)), (ty,), ops1, f"fexc fround {fmt}", modes)
    for signaling in (False, True):
        agree(engines, lambda b, x, rc: flags(b, b.fcmp("lt", fmt, x[0], x[1]), signaling), (ty, ty), ops2,
              f"fexc fcmp {fmt} signaling={signaling}", (0,))
    agree(engines, lambda b, x, rc: flags(b, b.fmax(fmt, x[0], x[1])), (ty, ty), ops2, f"fexc fmax {fmt}", (0,))
    for dst in FMTS:
        if dst != fmt:
            agree(engines, lambda b, x, rc: flags(b, b.fcvt(fmt, dst, x[0], rc)), (ty,), ops1,
                  f"fexc fcvt {fmt}->{dst}", modes)
    for bits in (32, 64):
        agree(engines, lambda b, x, rc: flags(b, b.fcvt_to_int(fmt, bits, x[0], rc)), (ty,), ops1,
              f"fexc fcvt_to_int {fmt} i{bits}", modes)
        agree(engines, lambda b, x, rc: flags(b, b.fcvt_from_int(fmt, x[0], rc)), (Ty(bits),),
              [(v,) for v in ints(bits, seed=bits)], f"fexc fcvt_from_int i{bits} {fmt}", modes)


@pytest.mark.parametrize("insn", ["fsin", "fcos", "fsincos", "fptan", "fpatan", "f2xm1", "fyl2x", "fyl2xp1"])
def test_transcendentals(engines, insn):
    """ftrans: both engines run the host's instruction (the LLVM lowering inline, the
    interpreter through host_x87's thunk); value, ST1 and status word must agree."""
    ty, ops = FLOAT_FORMATS["f80"], pairs(sf.F80, seed=13)[::3]
    for slot in (0, 1):
        agree(engines, lambda b, x, rc: b.ftrans(insn, slot, x[0], x[1], rc), (ty, ty), ops,
              f"ftrans {insn} slot {slot}", ("dynamic",))


@pytest.mark.parametrize("fmt", FMTS)
def test_constant_operands_fold_like_the_interpreter(engines, fmt):
    """Operands LLVM can see: its constant folding must not change a NaN or a rounding."""
    F = sf.FORMATS[fmt]
    values = [0, F.sign_bit, F.one, F.inf, F.inf | F.sign_bit, F.inf | F.quiet_bit | 9, F.inf | 3,
              F.sign_bit | F.inf | 5, 1]
    if F.explicit:
        values.append(F.one ^ F.int_bit)
    ty = FLOAT_FORMATS[fmt]
    for a in values:
        for b_ in values:
            block, b = new_block(0)
            x, y = b.const(ty, a), b.const(ty, b_)
            results = [b.fbinary(n, fmt, x, y, 0) for n in ("fadd", "fsub", "fmul", "fdiv")]
            results += [b.fsqrt(fmt, x, 0), b.fround(fmt, x, 0), b.fmin(fmt, x, y)]
            results += [b.zext(b.fcmp(p, fmt, x, y), ty) for p in ("eq", "lt", "unord", "nle")]
            for i, r in enumerate(results):
                b.store(b.const(Ty.I64, SCRATCH + 16 * i), r if r.ty == Ty.I128 else b.zext(r, Ty.I128))
            b.exit(ExitReason.SYSCALL, 0)
            got = []
            for emu in engines:
                emu.engine.execute(emu.engine.compile(block))
                got.append(emu.read(SCRATCH, 16 * len(results)))
            assert got[0] == got[1], f"{fmt} constants {a:#x}, {b_:#x}: jit {got[0].hex()} interp {got[1].hex()}"


# -- the builder and the semantics by hand ---------------------------------------------------------
def test_builder_checks_formats_and_types():
    _, b = new_block(0)
    x64, x32 = b.const(Ty.I64, 0), b.const(Ty.I32, 0)
    with pytest.raises(IRError):
        b.fadd("f32", x64, x64, 0)                     # f32 lives in an i32
    with pytest.raises(IRError):
        b.fadd("f16", x32, x32, 0)
    with pytest.raises(IRError):
        b.fsqrt("f64", x64, b.const(Ty.I32, 0))        # rc is an i64
    with pytest.raises(IRError):
        b.fcmp("gt", "f64", x64, x64)
    with pytest.raises(IRError):
        b.fcvt("f64", "f64", x64, 0)
    with pytest.raises(IRError):
        b.fcvt_to_int("f64", 16, x64, 0)
    assert b.fcvt("f64", "f80", x64, 0).ty == Ty.I128
    assert b.fcmp("unord", "f32", x32, x32).ty == Ty.I1
    assert b.fcvt_to_int("f80", 32, b.const(Ty.I128, 0), 3).ty == Ty.I32


def _eval(make, *consts):
    block, b = new_block(0)
    r = make(b, *(b.const(ty, v) for ty, v in consts))
    env = {op.result: op.attrs["value"] for op in block.ops if op.opcode == "const"}
    return evaluate(r.op, env)


D = {1.0: 0x3FF0000000000000, 3.0: 0x4008000000000000, -1.0: 0xBFF0000000000000, 0.5: 0x3FE0000000000000,
     -0.3: 0xBFD3333333333333, 2.5: 0x4004000000000000, 1e300: 0x7E37E43C8800759C}
QNAN1, QNAN2, SNAN = 0x7FF8000000000001, 0xFFF8000000000002, 0x7FF0000000000003


@pytest.mark.parametrize("make, consts, want", [
    (lambda b, x, y: b.fdiv("f64", x, y, 0), ((Ty.I64, D[1.0]), (Ty.I64, D[3.0])), 0x3FD5555555555555),
    (lambda b, x, y: b.fdiv("f64", x, y, 2), ((Ty.I64, D[1.0]), (Ty.I64, D[3.0])), 0x3FD5555555555556),
    (lambda b, x, y: b.fsub("f64", x, y, 0), ((Ty.I64, D[1.0]), (Ty.I64, D[1.0])), 0),     # x - x = +0
    (lambda b, x, y: b.fsub("f64", x, y, 1), ((Ty.I64, D[1.0]), (Ty.I64, D[1.0])), 1 << 63),  # -0 rounding down
    (lambda b, x, y: b.fadd("f64", x, y, 0), ((Ty.I64, QNAN1), (Ty.I64, QNAN2)), QNAN1),   # SSE: first NaN
    (lambda b, x, y: b.fadd("f64", x, y, 0), ((Ty.I64, D[1.0]), (Ty.I64, SNAN)), SNAN | 1 << 51),  # quieted
    (lambda b, x, y: b.fmul("f64", x, y, 0), ((Ty.I64, 0), (Ty.I64, 0x7FF0 << 48)), 0xFFF8 << 48),  # default NaN
    (lambda b, x, y: b.fmul("f64", x, y, 3), ((Ty.I64, D[1e300]), (Ty.I64, D[1e300])), 0x7FEFFFFFFFFFFFFF),
    (lambda b, x, y: b.fmin("f64", x, y), ((Ty.I64, 0), (Ty.I64, 1 << 63)), 1 << 63),       # zeros: second
    (lambda b, x, y: b.fmax("f64", x, y), ((Ty.I64, QNAN1), (Ty.I64, D[1.0])), D[1.0]),    # NaN: second
    (lambda b, x, y: b.fadd("f80", x, y, 0), ((Ty.I128, 0x7FFF_C000000000000001), (Ty.I128, 0xFFFF_C000000000000002)),
     0xFFFF_C000000000000002),                                                            # x87: larger significand
    (lambda b, x, y: b.fadd("f80", x, y, 0), ((Ty.I128, 0x7FFF_8000000000000005), (Ty.I128, 0x7FFF_C000000000000001)),
     0x7FFF_C000000000000001),                                                            # x87: QNaN beats SNaN
    (lambda b, x, y: b.fadd("f80", x, y, 0), ((Ty.I128, 0x3FFF_4000000000000000), (Ty.I128, 0x3FFF_8000000000000000)),
     0xFFFF_C000000000000000),                                                            # unnormal: invalid
])
def test_semantics_by_hand(make, consts, want):
    assert _eval(make, *consts) == want


@pytest.mark.parametrize("make, value, want", [
    (lambda b, x: b.fround("f64", x, 0), D[-0.3], 1 << 63),                 # -0.3 rounds to -0
    (lambda b, x: b.fround("f64", x, 0), D[2.5], 0x4000000000000000),       # ties to even: 2
    (lambda b, x: b.fround("f64", x, 2), D[0.5], D[1.0]),
    (lambda b, x: b.fcvt_to_int("f64", 32, x, 3), D[-0.3], 0),
    (lambda b, x: b.fcvt_to_int("f64", 32, x, 1), D[-0.3], 0xFFFFFFFF),     # floor: -1
    (lambda b, x: b.fcvt_to_int("f64", 32, x, 0), D[1e300], 0x80000000),    # integer indefinite
    (lambda b, x: b.fcvt_to_int("f64", 64, x, 0), QNAN1, 1 << 63),
    (lambda b, x: b.fcvt("f64", "f32", x, 0), 0x7FF7FFFFE0000000, 0x7FFFFFFF),   # SNaN: quieted, top payload
    (lambda b, x: b.fcvt("f64", "f32", x, 3), D[1e300], 0x7F7FFFFF),        # overflow toward zero: max
    (lambda b, x: b.fcvt_from_int("f32", x, 0), 2**24 + 1, 0x4B800000),     # 16777217 -> 16777216
    (lambda b, x: b.fcvt_from_int("f32", x, 2), 2**24 + 1, 0x4B800001),
])
def test_unary_semantics_by_hand(make, value, want):
    assert _eval(make, (Ty.I64, value)) == want
