"""Exchange-and-operate lifters: cmpxchg xadd.

Single-threaded guest: `lock` changes nothing. Memory is written before any
register so a faulting store leaves the guest registers as they were.
"""
from capstone import x86_const as X

from dbt.frontend.x86.flags import CCKind
from dbt.ir.ops import Ty

ACCUMULATOR = {Ty.I8: X.X86_REG_AL, Ty.I16: X.X86_REG_AX, Ty.I32: X.X86_REG_EAX,
               Ty.I64: X.X86_REG_RAX}


def put_reg_if(ctx, reg: int, cond, value) -> None:
    """Write `value` to register `reg` only where `cond` (i1) holds.

    A 32-bit register that is not written keeps its upper half (no zero
    extension), as on the CPU (cmpxchg, bsf/bsr of zero).
    """
    b = ctx.b
    slot, _shift, ty = ctx.reg_info(reg)
    if ty == Ty.I32:
        b.put(slot, b.select(cond, b.zext(value, Ty.I64), ctx.get64(slot)))
    else:
        ctx.put_reg(reg, b.select(cond, value, ctx.get_reg(reg)))


def lift_cmpxchg(ctx, insn):
    """Compare the accumulator with dest: equal -> dest = src; else accumulator = dest."""
    b = ctx.b
    dest, write = ctx.load_store(0)
    src = ctx.load(1)
    acc_reg = ACCUMULATOR[dest.ty]
    acc = ctx.get_reg(acc_reg)
    equal = b.eq(acc, dest)
    differ = b.ne(acc, dest)
    if ctx.op(0).type == X.X86_OP_MEM:
        write(b.select(equal, src, dest))      # the locked cycle always writes memory
        put_reg_if(ctx, acc_reg, differ, dest)
    else:
        put_reg_if(ctx, acc_reg, differ, dest)  # first: dest may be the accumulator itself
        put_reg_if(ctx, ctx.op(0).reg, equal, src)
    ctx.set_cc(CCKind.SUB, b.sub(acc, dest), dest, first=acc)


def lift_xadd(ctx, insn):
    """tmp = dest + src; src = dest; dest = tmp (dest written last: xadd eax, eax doubles)."""
    dest, write = ctx.load_store(0)
    src = ctx.load(1)
    total = ctx.b.add(dest, src)
    if ctx.op(0).type == X.X86_OP_MEM:
        write(total)
        ctx.store(1, dest)
    else:
        ctx.store(1, dest)
        write(total)
    ctx.set_cc(CCKind.ADD, total, src)


LIFTERS = {
    X.X86_INS_CMPXCHG: lift_cmpxchg,
    X.X86_INS_XADD: lift_xadd,
}
