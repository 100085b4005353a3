"""Shift and rotate lifters: shl/sal shr sar rol ror rcl rcr shld shrd.

The count is masked to 5 bits (6 for 64-bit operands). A masked count of 0
changes no flag but still writes the destination, as the CPU does (a 32-bit
register is zero-extended). Shifts record lazy flags (CCKind.SHL/SAR, cc_src =
the operand shifted by count-1); rotates change only CF and OF, so they
materialise RFLAGS. 16-bit shld/shrd by 17..31 (undefined in the SDM) shift
through dst:src:dst, which is what Intel CPUs do.
"""
from capstone import x86_const as X

from dbt.frontend.x86.flags import FLAG_BIT, CCKind
from dbt.ir.ops import Ty

CF_OF = (1 << FLAG_BIT["CF"]) | (1 << FLAG_BIT["OF"])
WIDE = {Ty.I8: Ty.I16, Ty.I16: Ty.I32, Ty.I32: Ty.I64, Ty.I64: Ty.I128}


def _count(ctx, index, ty):
    """(masked count as a `ty` value, the count if known at translate time else None)."""
    mask = 0x3F if ty == Ty.I64 else 0x1F
    op = ctx.op(index)
    if op.type == X.X86_OP_IMM:
        return ctx.b.const(ty, op.imm & mask), op.imm & mask
    return ctx.b.zext(ctx.b.and_(ctx.load(index), mask), ty), None


def _record(ctx, n, known, kind, result, src):
    """Lazy flags of a shift, taking effect only when the masked count `n` is not 0."""
    if known is None:
        ctx.set_cc_if(ctx.b.ne(n, 0), kind, result, src)
    elif known:
        ctx.set_cc(kind, result, src)


def _set_cf_of(ctx, n, known, old, cf, of):
    """RFLAGS `old` with CF and OF replaced, when the masked count `n` is not 0."""
    if known == 0:
        return
    b = ctx.b
    cf, of = (b.shl(b.zext(v, Ty.I64), FLAG_BIT[f]) for v, f in ((cf, "CF"), (of, "OF")))
    new = b.or_(b.and_(old, ~CF_OF), b.or_(cf, of))
    ctx.set_eflags(new if known else b.select(b.ne(n, 0), new, old))


def _shift(opcode, kind):
    """shl/sal (shl, SHL), shr (lshr, SAR), sar (ashr, SAR)."""
    def lift(ctx, insn):
        b = ctx.b
        a, write = ctx.load_store(0)
        n, known = _count(ctx, 1, a.ty)
        r = b.binop(opcode, a, n)
        write(r)
        _record(ctx, n, known, kind, r, b.binop(opcode, a, b.sub(n, 1)))
    return lift


def _rotate(left):
    """rol/ror: CF = the bit rotated in last; OF = its xor with the new top bit (count 1)."""
    def lift(ctx, insn):
        b = ctx.b
        a, write = ctx.load_store(0)
        n, known = _count(ctx, 1, a.ty)
        old = ctx.eflags()
        r = b.rotl(a, n) if left else b.rotr(a, n)
        write(r)
        cf = b.bit(r, 0) if left else b.msb(r)
        of = b.xor(b.msb(r), cf if left else b.bit(r, a.ty.value - 2))
        _set_cf_of(ctx, n, known, old, cf, of)
    return lift


def _rotate_carry(left):
    """rcl/rcr: rotate the (width+1)-bit value CF:dest, by the count modulo width+1."""
    def lift(ctx, insn):
        b = ctx.b
        a, write = ctx.load_store(0)
        n, known = _count(ctx, 1, a.ty)
        w, wide = a.ty.value, WIDE[a.ty]
        old = ctx.eflags()
        x = b.or_(b.zext(a, wide), b.shl(b.zext(b.bit(old, FLAG_BIT["CF"]), wide), w))
        m = b.zext(n, wide)
        if w < 32:                          # a masked count can exceed width+1 only here
            m = b.urem(m, w + 1)
        back = b.sub(b.const(wide, w + 1), m)
        rotated = (b.or_(b.shl(x, m), b.lshr(x, back)) if left
                   else b.or_(b.lshr(x, m), b.shl(x, back)))
        r = b.trunc(rotated, a.ty)
        cf = b.bit(rotated, w)
        write(r)
        of = b.xor(b.msb(r), cf if left else b.bit(r, w - 2))
        _set_cf_of(ctx, n, known, old, cf, of)
    return lift


def _double_shift(left):
    """shld/shrd dest, src, count: shift dest, filling from src; flags as shl/shr of dest."""
    def lift(ctx, insn):
        b = ctx.b
        a, write = ctx.load_store(0)
        n, known = _count(ctx, 2, a.ty)
        w = a.ty.value
        wide = Ty.I128 if w == 64 else Ty.I64
        d, s, m = b.zext(a, wide), b.zext(ctx.load(1), wide), b.zext(n, wide)
        if left:                            # result = top w bits of (dst:src) << n
            x, amount = b.or_(b.shl(d, w), s), b.sub(b.const(wide, w), m)
        else:                               # result = low w bits of (src:dst) >> n
            x, amount = b.or_(b.shl(s, w), d), m
        if w == 16:                         # Intel: dst:src:dst, for counts 17..31
            x = b.or_(b.shl(x, 16), d) if left else b.or_(b.shl(d, 32), x)
            amount = b.add(amount, 16) if left else amount
        r = b.trunc(b.lshr(x, amount), a.ty)
        write(r)
        last = b.trunc(b.lshr(x, b.add(amount, 1) if left else b.sub(amount, 1)), a.ty)
        _record(ctx, n, known, CCKind.SHL if left else CCKind.SAR, r, last)
    return lift


LIFTERS = {
    X.X86_INS_SHL: _shift("shl", CCKind.SHL),
    X.X86_INS_SAL: _shift("shl", CCKind.SHL),
    X.X86_INS_SHR: _shift("lshr", CCKind.SAR),
    X.X86_INS_SAR: _shift("ashr", CCKind.SAR),
    X.X86_INS_ROL: _rotate(True),
    X.X86_INS_ROR: _rotate(False),
    X.X86_INS_RCL: _rotate_carry(True),
    X.X86_INS_RCR: _rotate_carry(False),
    X.X86_INS_SHLD: _double_shift(True),
    X.X86_INS_SHRD: _double_shift(False),
}
