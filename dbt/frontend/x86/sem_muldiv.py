"""Multiply and divide lifters: mul imul (1/2/3 operands) div idiv.

Products and dividends are computed at twice the operand width (i128 for
64-bit operands). div/idiv raise #DE before writing anything when the divisor
is 0 or the quotient does not fit; they leave the flags (undefined) untouched.
"""
from capstone import x86_const as X

from dbt.frontend.x86.flags import CCKind
from dbt.ir.exits import Vector
from dbt.ir.ops import Ty

WIDE = {Ty.I8: Ty.I16, Ty.I16: Ty.I32, Ty.I32: Ty.I64, Ty.I64: Ty.I128}
# Operand type -> (low half / accumulator, high half) of the implicit rdx:rax pair.
ACC = {Ty.I8: (X.X86_REG_AL, X.X86_REG_AH), Ty.I16: (X.X86_REG_AX, X.X86_REG_DX),
       Ty.I32: (X.X86_REG_EAX, X.X86_REG_EDX), Ty.I64: (X.X86_REG_RAX, X.X86_REG_RDX)}


def _pair(ctx, ty):
    """The implicit double-width operand ah:al / dx:ax / edx:eax / rdx:rax."""
    b = ctx.b
    if ty == Ty.I8:
        return ctx.get_reg(X.X86_REG_AX)
    low, high = (b.zext(ctx.get_reg(r), WIDE[ty]) for r in ACC[ty])
    return b.or_(b.shl(high, ty.value), low)


def _put_pair(ctx, ty, low, high):
    """Write low/high halves to al/ah, ax/dx, eax/edx or rax/rdx."""
    for reg, value in zip(ACC[ty], (low, high)):
        ctx.put_reg(reg, value)


def _widening(signed):
    """mul/imul r/m: rdx:rax-part = accumulator * r/m; CF = OF = high half significant."""
    def lift(ctx, insn):
        b = ctx.b
        s = ctx.load(0)
        ty, wide = s.ty, WIDE[s.ty]
        p = b.mul(b.resize(ctx.get_reg(ACC[ty][0]), wide, signed), b.resize(s, wide, signed))
        low, high = b.trunc(p, ty), b.trunc(b.lshr(p, ty.value), ty)
        _put_pair(ctx, ty, low, high)
        significant = b.ne(high, b.ashr(low, ty.value - 1) if signed else b.const(ty, 0))
        ctx.set_cc(CCKind.MUL, low, b.zext(significant, ty))
    return lift


def lift_imul_truncating(ctx, insn):
    """imul r, r/m and imul r, r/m, imm: r = truncated product; CF = OF = it overflowed."""
    b = ctx.b
    ty = ctx.width(0)
    if len(insn.operands) == 3:
        a, s = ctx.load(1), ctx.load(2, ty)
    else:
        a, s = ctx.load(0), ctx.load(1)
    wide = WIDE[ty]
    p = b.mul(b.sext(a, wide), b.sext(s, wide))
    low = b.trunc(p, ty)
    ctx.store(0, low)
    ctx.set_cc(CCKind.MUL, low, b.zext(b.ne(p, b.sext(low, wide)), ty))


def lift_div(ctx, insn):
    """div r/m: quotient/remainder of the unsigned rdx:rax-part by r/m; #DE if it does not fit."""
    b = ctx.b
    s = ctx.load(0)
    ty, wide = s.ty, WIDE[s.ty]
    dividend = _pair(ctx, ty)
    # The quotient fits iff high half < divisor; that also catches a divisor of 0.
    b.check(b.uge(b.trunc(b.lshr(dividend, ty.value), ty), s), Vector.DE)
    divisor = b.zext(s, wide)
    _put_pair(ctx, ty, b.udiv(dividend, divisor), b.urem(dividend, divisor))


def lift_idiv(ctx, insn):
    """idiv r/m: signed, quotient rounded toward 0, remainder has the dividend's sign."""
    b = ctx.b
    s = ctx.load(0)
    ty, wide = s.ty, WIDE[s.ty]
    dividend = _pair(ctx, ty)
    # Divisor 0, and the one wide overflow (MIN / -1) that the IR's sdiv leaves undefined.
    wide_overflow = b.and_(b.eq(s, ty.mask), b.eq(dividend, 1 << (wide.value - 1)))
    b.check(b.or_(b.eq(s, 0), wide_overflow), Vector.DE)
    divisor = b.sext(s, wide)
    q = b.sdiv(dividend, divisor)
    low = b.trunc(q, ty)
    b.check(b.ne(q, b.sext(low, wide)), Vector.DE)
    _put_pair(ctx, ty, low, b.srem(dividend, divisor))


lift_mul = _widening(False)
_lift_imul_widening = _widening(True)


def lift_imul(ctx, insn):
    """imul has a widening 1-operand form and truncating 2- and 3-operand forms."""
    if len(insn.operands) == 1:
        _lift_imul_widening(ctx, insn)
    else:
        lift_imul_truncating(ctx, insn)


LIFTERS = {
    X.X86_INS_MUL: lift_mul,
    X.X86_INS_IMUL: lift_imul,
    X.X86_INS_DIV: lift_div,
    X.X86_INS_IDIV: lift_idiv,
}
