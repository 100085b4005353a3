"""Integer ALU lifters: add adc sub sbb and or xor cmp test inc dec neg not."""
from capstone import x86_const as X

from dbt.frontend.x86.flags import CCKind


def _operands(ctx):
    """(dest value, dest writer, source value at dest width)."""
    a, write = ctx.load_store(0)
    return a, write, ctx.load(1, a.ty)


def _carry_in(ctx, ty):
    return ctx.b.zext(ctx.flags(("CF",))["CF"], ty)


def lift_add(ctx, insn):
    a, write, s = _operands(ctx)
    r = ctx.b.add(a, s)
    write(r)
    ctx.set_cc(CCKind.ADD, r, s)


def lift_adc(ctx, insn):
    a, write, s = _operands(ctx)
    c = _carry_in(ctx, a.ty)
    r = ctx.b.add(ctx.b.add(a, s), c)
    write(r)
    ctx.set_cc(CCKind.ADC, r, s, c)


def lift_sub(ctx, insn):
    a, write, s = _operands(ctx)
    r = ctx.b.sub(a, s)
    write(r)
    ctx.set_cc(CCKind.SUB, r, s, first=a)


def lift_sbb(ctx, insn):
    a, write, s = _operands(ctx)
    c = _carry_in(ctx, a.ty)
    r = ctx.b.sub(ctx.b.sub(a, s), c)
    write(r)
    ctx.set_cc(CCKind.SBB, r, s, c)


def lift_cmp(ctx, insn):
    a = ctx.load(0)
    s = ctx.load(1, a.ty)
    ctx.set_cc(CCKind.SUB, ctx.b.sub(a, s), s, first=a)


def _logic(opcode):
    def lift(ctx, insn):
        a, write, s = _operands(ctx)
        r = ctx.b.binop(opcode, a, s)
        write(r)
        ctx.set_cc(CCKind.LOGIC, r)
    return lift


def lift_test(ctx, insn):
    a = ctx.load(0)
    ctx.set_cc(CCKind.LOGIC, ctx.b.and_(a, ctx.load(1, a.ty)))


def _incdec(kind, opcode):
    def lift(ctx, insn):
        a, write = ctx.load_store(0)
        carry = ctx.b.zext(ctx.flags(("CF",))["CF"], a.ty)
        r = ctx.b.binop(opcode, a, 1)
        write(r)
        ctx.set_cc(kind, r, carry)
    return lift


def lift_neg(ctx, insn):
    a, write = ctx.load_store(0)
    zero = ctx.b.const(a.ty, 0)
    r = ctx.b.sub(zero, a)
    write(r)
    ctx.set_cc(CCKind.SUB, r, a, first=zero)


def lift_not(ctx, insn):
    a, write = ctx.load_store(0)
    write(ctx.b.not_(a))


LIFTERS = {
    X.X86_INS_ADD: lift_add,
    X.X86_INS_ADC: lift_adc,
    X.X86_INS_SUB: lift_sub,
    X.X86_INS_SBB: lift_sbb,
    X.X86_INS_CMP: lift_cmp,
    X.X86_INS_AND: _logic("and"),
    X.X86_INS_OR: _logic("or"),
    X.X86_INS_XOR: _logic("xor"),
    X.X86_INS_TEST: lift_test,
    X.X86_INS_INC: _incdec(CCKind.INC, "add"),
    X.X86_INS_DEC: _incdec(CCKind.DEC, "sub"),
    X.X86_INS_NEG: lift_neg,
    X.X86_INS_NOT: lift_not,
}
