"""x87 ops computed exactly in integers: fxtract, fscale, fprem, fprem1.

Each is one exact result (or one rounding of an exact product, for fscale) built from
the operands' fields; their exception flags follow from the operand classes (IE for an
SNaN or unsupported encoding, DE for a denormal, ZE for fxtract of zero) or from the
one rounding. fprem/fprem1 reduce partially as Intel CPUs do (by 32 + D mod 32 bits
when the exponent difference D >= 64). tests/oracle/test_x87.py checks them.
"""
from capstone import x86_const as X

from dbt.frontend.x86.sem_x87 import (C_POS, DEFAULT_NAN80, I16, I32, I128, INF80, INT_BIT, ONE80, QUIET80,
                                      SIGN80, TOWARD_ZERO, classes, fexc, fields, normalized, push, raise_flags,
                                      rounded, set_c, set_st, st)
from dbt.ir.ops import Ty

I1 = Ty.I1


def lift_fxtract(ctx, insn):
    """ST0 -> exponent (an integer-valued f80), then push the significand (exponent 0, same
    sign); denormals are normalized first. Zero gives -inf and the zero; infinity gives
    +inf and itself; a NaN both quieted; an unsupported encoding both the default NaN."""
    b = ctx.b
    x = st(ctx, 0)
    c = classes(b, x)
    exp, sig, sign = fields(b, x)
    e, m = normalized(b, exp, sig)
    sig_part = b.or_(b.or_(b.const(I128, 0x3FFF << 64), b.zext(m, I128)), b.shl(b.zext(sign, I128), 79))
    exp_part = b.fcvt_from_int("f80", e, 0)
    specials = (("zero", INF80 | SIGN80, x), ("inf", INF80, x), ("nan", None, b.or_(x, QUIET80)),
                ("unsupported", DEFAULT_NAN80, b.const(I128, DEFAULT_NAN80)))
    for name, exponent, significand in specials:
        exp_part = b.select(c[name], significand if exponent is None else b.const(I128, exponent), exp_part)
        sig_part = b.select(c[name], significand, sig_part)
    set_st(ctx, 0, exp_part)
    push(ctx, sig_part)
    set_c(ctx, c1=0)
    ie, de = _class_flags(ctx, [c], [x])             # and ZE for a zero
    flags = b.or_(b.or_(b.zext(ie, I32), b.shl(b.zext(de, I32), 1)), b.shl(b.zext(c["zero"], I32), 2))
    raise_flags(ctx, [flags])


def _class_flags(ctx, classes: list, x_values: list):
    """Flags of an op whose exceptions depend on operand classes only (fxtract, fprem): IE for
    an SNaN or unsupported operand, else DE for a denormal operand unless a NaN is present."""
    b = ctx.b
    snan = [b.and_(c["nan"], b.eq(b.and_(x, QUIET80), 0)) for c, x in zip(classes, x_values)]
    ie, nan, de = b.const(I1, 0), b.const(I1, 0), b.const(I1, 0)
    for c, s_ in zip(classes, snan):
        ie, nan, de = b.or_(b.or_(ie, s_), c["unsupported"]), b.or_(nan, c["nan"]), b.or_(de, c["denormal"])
    return ie, b.and_(de, b.not_(nan))


def _clamp(b, v, lo: int, hi: int):
    v = b.select(b.slt(v, b.const(I32, lo)), b.const(I32, lo), v)
    return b.select(b.sgt(v, b.const(I32, hi)), b.const(I32, hi), v)


def lift_fscale(ctx, insn):
    """ST0 * 2**trunc(ST1) rounded once: ST0's significand with an exponent built in integers,
    times a representable power of two; specials go through fmul with a stand-in for ST1."""
    b = ctx.b
    x, y = st(ctx, 0), st(ctx, 1)
    cx, cy = classes(b, x), classes(b, y)
    ex, sx, sign = fields(b, x)
    ey, _, ysign = fields(b, y)
    x_plain = b.or_(cx["normal"], cx["denormal"])
    y_finite = b.or_(b.or_(cy["normal"], cy["denormal"]), cy["zero"])
    special = b.not_(b.and_(x_plain, y_finite))
    stand_in = b.select(y_finite, b.const(I128, ONE80),
                        b.select(b.eq(y, INF80), b.const(I128, INF80),
                                 b.select(b.eq(y, INF80 | SIGN80), b.const(I128, 0), y)))
    big = b.sge(ey, b.const(I32, 16383 + 16))                   # |ST1| >= 2**16: clamp
    n = b.select(big, b.select(ysign, b.const(I32, -65536), b.const(I32, 65536)),
                 b.fcvt_to_int("f80", 32, y, TOWARD_ZERO))
    e, m = normalized(b, ex, sx)
    total = _clamp(b, b.add(e, n), -32827, 32766)
    f = _clamp(b, total, -16445, 16383)                          # 2**f is representable
    scaled = b.or_(b.shl(b.zext(b.add(b.sub(total, f), 16383), I128), 64), b.zext(m, I128))
    scaled = b.or_(scaled, b.shl(b.zext(sign, I128), 79))
    normal_pow = b.or_(b.shl(b.zext(b.add(f, 16383), I128), 64), b.const(I128, INT_BIT))
    denormal_pow = b.shl(b.const(I128, 1), b.zext(b.add(f, 16445), I128))
    power = b.select(b.sge(f, b.const(I32, -16382)), normal_pow, denormal_pow)
    a, c = b.select(special, x, scaled), b.select(special, stand_in, power)
    r, c1 = rounded(ctx, lambda rc: b.fmul("f80", a, c, rc))
    set_st(ctx, 0, r)
    set_c(ctx, c1=c1)
    product = b.and_(fexc(ctx, r, sticky=b.const(I32, 0)), ~0x2 & 0xFFFFFFFF)   # DE: of ST0 and ST1
    _, de = _class_flags(ctx, [cx, cy], [x, y])
    de = b.and_(de, b.eq(b.and_(product, 1), 0))
    raise_flags(ctx, [b.or_(product, b.shl(b.zext(de, I32), 1))])


def _pack_exact(b, sign, r, lsb):
    """The f80 of +-r * 2**lsb (r: i128 with at most 64 significant bits; the value is
    known to be exactly representable, denormal or not)."""
    lz = b.trunc(b.ctlz(r), I32)
    biased = b.add(lsb, b.sub(b.const(I32, 127 + 16383), lz))      # of the leading bit
    top = b.lshr(b.shl(r, b.zext(lz, I128)), 64)
    normal = b.or_(b.shl(b.zext(biased, I128), 64), top)
    k = b.add(lsb, 16445)
    denormal = b.select(b.sge(k, b.const(I32, 0)), b.shl(r, b.zext(k, I128)),
                        b.lshr(r, b.zext(b.neg(k), I128)))
    mag = b.select(b.eq(r, 0), b.const(I128, 0),
                   b.select(b.sgt(biased, b.const(I32, 0)), normal, denormal))
    return b.or_(mag, b.shl(b.zext(sign, I128), 79))


def _fprem(nearest: bool):
    """fprem (quotient truncated) / fprem1 (rounded to nearest even): exact remainders in
    integers. Exponent difference D >= 64 reduces by 32 + D mod 32 bits only and sets C2
    (C0 C1 C3 then 0); a NaN or invalid result clears C2 only (host-checked)."""
    def lift(ctx, insn):
        b = ctx.b
        x, y = st(ctx, 0), st(ctx, 1)
        cx, cy = classes(b, x), classes(b, y)
        ex, sx, sign = fields(b, x)
        ey, sy, _ = fields(b, y)
        nan_in = b.or_(b.or_(cx["nan"], cy["nan"]), b.or_(cx["unsupported"], cy["unsupported"]))
        invalid = b.or_(cx["inf"], cy["zero"])
        x_plain, y_plain = b.or_(cx["normal"], cx["denormal"]), b.or_(cy["normal"], cy["denormal"])
        e1, m1 = normalized(b, ex, sx)
        e2, m2 = normalized(b, ey, sy)
        d = b.sub(e1, e2)
        compute = b.and_(x_plain, b.or_(y_plain, cy["inf"]))
        keep = b.or_(b.slt(d, b.const(I32, -1)), cy["inf"])      # remainder x (re-encoded), quotient 0
        active = b.and_(compute, b.not_(keep))
        partial = b.and_(active, b.sge(d, b.const(I32, 64)))
        s = b.add(b.select(partial, b.add(b.and_(d, 31), 32), d), 1)
        s = b.select(active, s, b.const(I32, 0))                     # 0..64
        num = b.shl(b.zext(m1, I128), b.zext(s, I128))
        den = b.select(active, b.shl(b.zext(m2, I128), 1), b.const(I128, 1))
        q = b.select(active, b.udiv(num, den), b.const(I128, 0))
        r = b.select(active, b.urem(num, den), num)
        if nearest:
            twice = b.shl(r, 1)
            up = b.and_(b.and_(active, b.not_(partial)),
                        b.or_(b.ugt(twice, den), b.and_(b.eq(twice, den), b.bit(q, 0))))
            q = b.select(up, b.add(q, 1), q)
            r = b.select(up, b.sub(den, r), r)
            sign = b.xor(sign, up)
        lsb = b.sub(b.sub(e1, 63), s)
        result = b.select(compute, _pack_exact(b, sign, r, lsb), x)
        result = b.select(invalid, b.const(I128, DEFAULT_NAN80), result)
        result = b.select(nan_in, b.fadd("f80", x, y, 0), result)     # the x87's NaN choice
        set_st(ctx, 0, result)
        sw, qbits = b.get("fpu_sw", I16), b.not_(partial)
        unchanged = b.or_(nan_in, invalid)                  # the CPU leaves C0 C1 C3 then

        def quotient_bit(k: int, name: str):
            return b.select(unchanged, b.bit(sw, C_POS[name]), b.and_(qbits, b.bit(q, k)))
        set_c(ctx, c0=quotient_bit(2, "c0"), c3=quotient_bit(1, "c3"), c1=quotient_bit(0, "c1"), c2=partial)
        ie, de = _class_flags(ctx, [cx, cy], [x, y])      # and IE for an infinite x or a zero y
        ie = b.or_(ie, b.and_(invalid, b.not_(nan_in)))
        raise_flags(ctx, [b.or_(b.zext(ie, I32), b.shl(b.zext(b.and_(de, b.not_(ie)), I32), 1))])
    return lift


LIFTERS = {
    X.X86_INS_FSCALE: lift_fscale,
    X.X86_INS_FXTRACT: lift_fxtract,
    X.X86_INS_FPREM: _fprem(nearest=False),
    X.X86_INS_FPREM1: _fprem(nearest=True),
}
