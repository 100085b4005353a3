"""x87 transcendentals: fsin fcos fsincos fptan fpatan f2xm1 fyl2x fyl2xp1.

Their results are the host CPU's (IR op ftrans, dbt/backend/host_x87.py): no
vendor's last bit is one rounding of the exact value, so the CPU running dbt is
the only reference. The lifters move the x87 stack as the instructions do and copy
C1, C2 and the exception flags from the status word the host instruction left:
C2 = 1 (|x| >= 2**63 for fsin fcos fsincos fptan) leaves the stack unchanged.
"""
from capstone import x86_const as X

from dbt.frontend.x86.sem_x87 import pop, push_unless, raise_flags, rounding, set_c, set_st, st
from dbt.ir.ops import Ty

F80_BITS = 80
_C = {"c1": 9, "c2": 10}
REDUCING = ("fsin", "fcos", "fsincos", "fptan")     # C2 = 1: |x| >= 2**63, nothing computed


def _run(ctx, insn: str, slot: int = 0):
    """(ST(slot) after the host's insn on ST0 and ST1, its status word as an i16)."""
    b = ctx.b
    r = b.ftrans(insn, slot, st(ctx, 0), st(ctx, 1), rounding(ctx))
    return b.and_(r, (1 << F80_BITS) - 1), b.trunc(b.lshr(r, F80_BITS), Ty.I16)


def _report(ctx, sw, insn: str) -> None:
    """C1 (rounded up), C2 for the reducing ones (out of range), and the exception flags, as the
    host instruction left them; C0 and C3 (undefined) are left unchanged, as the CPU leaves them."""
    b = ctx.b
    codes = ("c1", "c2") if insn in REDUCING else ("c1",)
    set_c(ctx, **{name: b.bit(sw, _C[name]) for name in codes})
    raise_flags(ctx, [b.zext(b.and_(sw, 0x3F), Ty.I32)])


def _unary(insn: str):
    """fsin fcos f2xm1: ST0 := the result (unchanged when C2 reports an out-of-range operand)."""
    def lift(ctx, insn_):
        value, sw = _run(ctx, insn)
        set_st(ctx, 0, value)
        _report(ctx, sw, insn)
    return lift


def _binary(insn: str):
    """fpatan fyl2x fyl2xp1: ST1 := f(ST1, ST0), then pop."""
    def lift(ctx, insn_):
        value, sw = _run(ctx, insn)
        set_st(ctx, 1, value)
        _report(ctx, sw, insn)
        pop(ctx)
    return lift


def _pushing(insn: str):
    """fptan (tan, then 1.0 pushed) and fsincos (sin, then cos pushed), unless C2."""
    def lift(ctx, insn_):
        top, sw = _run(ctx, insn, 0)
        below, _ = _run(ctx, insn, 1)
        push_unless(ctx, ctx.b.bit(sw, _C["c2"]), top, below)
        _report(ctx, sw, insn)
    return lift


LIFTERS = {
    X.X86_INS_FSIN: _unary("fsin"), X.X86_INS_FCOS: _unary("fcos"), X.X86_INS_F2XM1: _unary("f2xm1"),
    X.X86_INS_FPATAN: _binary("fpatan"), X.X86_INS_FYL2X: _binary("fyl2x"),
    X.X86_INS_FYL2XP1: _binary("fyl2xp1"),
    X.X86_INS_FPTAN: _pushing("fptan"), X.X86_INS_FSINCOS: _pushing("fsincos"),
}
