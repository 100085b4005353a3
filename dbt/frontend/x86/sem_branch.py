"""Control flow and condition-code consumers: jcc jmp call ret loop jrcxz setcc cmovcc."""
from capstone import x86_const as X

from dbt.frontend.x86.flags import CONDITIONS
from dbt.ir.ops import Ty


def _target(ctx):
    """(direct target, None) for an immediate operand, else (None, loaded target)."""
    op = ctx.op(0)
    if op.type == X.X86_OP_IMM:
        return op.imm & Ty.I64.mask, None
    return None, ctx.b.resize(ctx.load(0), Ty.I64)


def _transfer(ctx, direct, indirect, **call):
    if indirect is None:
        ctx.end_goto(direct, **call)
    else:
        ctx.end_jump(indirect, **call)


def lift_jmp(ctx, insn):
    _transfer(ctx, *_target(ctx))


def lift_call(ctx, insn):
    direct, indirect = _target(ctx)
    ctx.push(ctx.b.const(Ty.I64, ctx.next_pc))
    _transfer(ctx, direct, indirect, returns_to=ctx.next_pc)


def lift_ret(ctx, insn):
    target = ctx.pop()
    if insn.operands:
        ctx.b.put("rsp", ctx.b.add(ctx.get64("rsp"), ctx.op(0).imm & 0xFFFF))
    ctx.end_jump(target, ret=True)


def _jcc(code):
    def lift(ctx, insn):
        ctx.end_branch(ctx.cond(code), ctx.op(0).imm & Ty.I64.mask)
    return lift


def _setcc(code):
    def lift(ctx, insn):
        ctx.store(0, ctx.b.zext(ctx.cond(code), Ty.I8))
    return lift


def _cmovcc(code):
    def lift(ctx, insn):
        old = ctx.load(0)
        new = ctx.load(1)
        ctx.store(0, ctx.b.select(ctx.cond(code), new, old))
    return lift


def _count_jump(reg, decrement: bool, zf_code: int | None):
    """loop/loope/loopne (decrement rcx, then test) and jrcxz/jecxz (test only).

    An address-size prefix (0x67) makes loop count in ecx (the write zero-extends).
    """
    def lift(ctx, insn):
        b = ctx.b
        count = ctx.get_reg(X.X86_REG_ECX if insn.addr_size == 4 else reg)
        if decrement:
            count = b.sub(count, 1)
            ctx.put_reg(X.X86_REG_ECX if insn.addr_size == 4 else reg, count)
            cond = b.ne(count, 0)
            if zf_code is not None:
                cond = b.and_(cond, ctx.cond(zf_code))
        else:
            cond = b.eq(count, 0)
        ctx.end_branch(cond, ctx.op(0).imm & Ty.I64.mask)
    return lift


def _per_condition(prefix: str, make) -> dict:
    table = {}
    for name, code in CONDITIONS.items():
        insn_id = getattr(X, f"X86_INS_{prefix}{name.upper()}", None)
        if insn_id is not None:
            table[insn_id] = make(code)
    return table


LIFTERS = {
    X.X86_INS_JMP: lift_jmp,
    X.X86_INS_CALL: lift_call,
    X.X86_INS_RET: lift_ret,
    X.X86_INS_LOOP: _count_jump(X.X86_REG_RCX, True, None),
    X.X86_INS_LOOPE: _count_jump(X.X86_REG_RCX, True, CONDITIONS["e"]),
    X.X86_INS_LOOPNE: _count_jump(X.X86_REG_RCX, True, CONDITIONS["ne"]),
    X.X86_INS_JRCXZ: _count_jump(X.X86_REG_RCX, False, None),
    X.X86_INS_JECXZ: _count_jump(X.X86_REG_ECX, False, None),
    **_per_condition("J", _jcc),
    **_per_condition("SET", _setcc),
    **_per_condition("CMOV", _cmovcc),
}
