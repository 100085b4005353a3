"""Data movement lifters: mov movzx movsx movsxd lea push pop xchg leave, sign extensions, nops."""
from capstone import x86_const as X

from dbt.frontend.x86 import sem_privileged
from dbt.ir.ops import Ty


def lift_mov(ctx, insn):
    if sem_privileged.moves_control_register(insn):      # mov to/from crN (0F 20-23)
        sem_privileged.lift_mov_cr(ctx, insn)
        return
    ctx.store(0, ctx.load(1, ctx.width(0)))


def _extend(signed):
    def lift(ctx, insn):
        ctx.store(0, ctx.b.resize(ctx.load(1), ctx.width(0), signed))
    return lift


def lift_lea(ctx, insn):
    ctx.store(0, ctx.b.resize(ctx.address(ctx.op(1)), ctx.width(0)))


def lift_push(ctx, insn):
    ty = ctx.width(0)
    ctx.push(ctx.b.resize(ctx.load(0, ty), ty, signed=True))


def lift_pop(ctx, insn):
    ty = ctx.width(0)
    value = ctx.pop(ty)
    ctx.store(0, value)     # pop [rsp+x] addresses with the incremented rsp, as the CPU does


def lift_xchg(ctx, insn):
    a, write_a = ctx.load_store(0)
    s, write_s = ctx.load_store(1)
    write_a(s)
    write_s(a)


def lift_leave(ctx, insn):
    """rsp = rbp, then pop rbp (pop bp with a 0x66 prefix, merging into rbp)."""
    ctx.b.put("rsp", ctx.get64("rbp"))
    if insn.prefix[2] == 0x66:
        ctx.put_reg(X.X86_REG_BP, ctx.pop(Ty.I16))
    else:
        ctx.b.put("rbp", ctx.pop())


def _widen_acc(src_reg, dst_reg, ty):
    """cbw/cwde/cdqe: the accumulator's low half sign-extended into itself."""
    def lift(ctx, insn):
        ctx.put_reg(dst_reg, ctx.b.sext(ctx.get_reg(src_reg), ty))
    return lift


def _sign_to_dx(acc_reg, dx_reg):
    """cwd/cdq/cqo: rdx-part = all copies of the accumulator's sign bit."""
    def lift(ctx, insn):
        a = ctx.get_reg(acc_reg)
        ctx.put_reg(dx_reg, ctx.b.ashr(a, a.ty.value - 1))
    return lift


def lift_nop(ctx, insn):
    pass


LIFTERS = {
    X.X86_INS_MOV: lift_mov,
    X.X86_INS_MOVABS: lift_mov,
    X.X86_INS_MOVZX: _extend(False),
    X.X86_INS_MOVSX: _extend(True),
    X.X86_INS_MOVSXD: _extend(True),
    X.X86_INS_LEA: lift_lea,
    X.X86_INS_PUSH: lift_push,
    X.X86_INS_POP: lift_pop,
    X.X86_INS_XCHG: lift_xchg,
    X.X86_INS_LEAVE: lift_leave,
    X.X86_INS_CBW: _widen_acc(X.X86_REG_AL, X.X86_REG_AX, Ty.I16),
    X.X86_INS_CWDE: _widen_acc(X.X86_REG_AX, X.X86_REG_EAX, Ty.I32),
    X.X86_INS_CDQE: _widen_acc(X.X86_REG_EAX, X.X86_REG_RAX, Ty.I64),
    X.X86_INS_CWD: _sign_to_dx(X.X86_REG_AX, X.X86_REG_DX),
    X.X86_INS_CDQ: _sign_to_dx(X.X86_REG_EAX, X.X86_REG_EDX),
    X.X86_INS_CQO: _sign_to_dx(X.X86_REG_RAX, X.X86_REG_RDX),
    X.X86_INS_NOP: lift_nop,
    X.X86_INS_ENDBR64: lift_nop,
    X.X86_INS_PAUSE: lift_nop,
}
