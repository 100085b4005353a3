"""Flag register lifters: lahf sahf pushf popf clc stc cmc cld std.

RFLAGS lives in three places: the lazy arithmetic flags, slot "df" (0/1) and
slot "eflags" (every other bit, bit 1 always set). User-mode popf changes
only the arithmetic flags, DF, NT, AC and ID; IF, IOPL, TF, VM are ignored.
"""
from capstone import x86_const as X

from dbt.frontend.x86.flags import FLAG_BIT
from dbt.ir.exits import ExitReason, Helper
from dbt.ir.ops import Ty

ARITH = sum(1 << bit for bit in FLAG_BIT.values())
DF_BIT = 10
NT, AC, ID = 1 << 14, 1 << 18, 1 << 21
POPF_WRITABLE = NT | AC | ID          # non-arithmetic bits of the "eflags" slot popf may change
PUSHF_HIDDEN = (1 << 16) | (1 << 17)  # RF and VM read as 0 in the pushed image
LAHF_FLAGS = ARITH & 0xFF             # SF ZF AF PF CF (OF is not in AH)


def rflags_image(ctx):
    """The full RFLAGS value as pushf stores it (an i64)."""
    b = ctx.b
    df = b.shl(b.and_(ctx.get64("df"), 1), DF_BIT)
    rest = b.and_(ctx.get64("eflags"), ~(ARITH | (1 << DF_BIT) | PUSHF_HIDDEN))
    return b.or_(b.or_(b.and_(ctx.eflags(), ARITH), df), b.or_(rest, 2))


def _update_arith(ctx, keep: int, new_bits):
    """Arithmetic flags = (current & keep) | new_bits (an i64 holding only bits outside keep)."""
    b = ctx.b
    ctx.set_eflags(b.or_(b.and_(ctx.eflags(), keep), new_bits))


def lift_lahf(ctx, insn):
    b = ctx.b
    ah = b.or_(b.and_(ctx.eflags(), LAHF_FLAGS), 2)
    ctx.put_reg(X.X86_REG_AH, b.trunc(ah, Ty.I8))


def lift_sahf(ctx, insn):
    b = ctx.b
    ah = b.zext(ctx.get_reg(X.X86_REG_AH), Ty.I64)
    _update_arith(ctx, ARITH & ~LAHF_FLAGS, b.and_(ah, LAHF_FLAGS))


def _pushf(ty):
    def lift(ctx, insn):
        ctx.push(ctx.b.trunc(rflags_image(ctx), ty))
    return lift


IF, IOPL = 1 << 9, 3 << 12
SYSTEM_WRITABLE = POPF_WRITABLE | IF | IOPL   # what popf/iretq may change at CPL 0 (TF not modelled)


def restore_rflags(ctx, value, writable: int) -> None:
    """RFLAGS = value (an i64), as popf/iretq load it: arithmetic flags, DF, and the
    `writable` bits of the "eflags" slot (the others keep their value; bit 1 stays set)."""
    b = ctx.b
    ctx.put64("df", b.and_(b.lshr(value, DF_BIT), 1))
    old = b.and_(ctx.get64("eflags"), ~writable)
    ctx.put64("eflags", b.or_(b.or_(old, b.and_(value, writable)), 2))
    ctx.set_eflags(b.and_(value, ARITH))


def _popf(ty):
    """popfq writes every user-writable bit; 16-bit popf only those in bits 0-15.
    In system mode (CPL 0) IF and IOPL too, then an IRQ_WINDOW exit lets the
    machine deliver an interrupt that IF now admits."""
    def lift(ctx, insn):
        value = ctx.b.zext(ctx.pop(ty), Ty.I64)
        restore_rflags(ctx, value, (SYSTEM_WRITABLE if ctx.system else POPF_WRITABLE) & ty.mask)
        if ctx.system:
            ctx.put64("exit_vector", Helper.IRQ_WINDOW)
            ctx.end_exit(ExitReason.HELPER)
    return lift


def _set_cf(how):
    """clc (0), stc (1), cmc (None: complement); the other flags are kept."""
    def lift(ctx, insn):
        b = ctx.b
        flags = ctx.eflags()
        if how is None:
            ctx.set_eflags(b.and_(b.xor(flags, 1), ARITH))
        else:
            _update_arith(ctx, ARITH & ~1, b.const(Ty.I64, how))
    return lift


def _set_df(value):
    def lift(ctx, insn):
        ctx.put64("df", value)
    return lift


LIFTERS = {
    X.X86_INS_LAHF: lift_lahf,
    X.X86_INS_SAHF: lift_sahf,
    X.X86_INS_PUSHF: _pushf(Ty.I16),
    X.X86_INS_PUSHFQ: _pushf(Ty.I64),
    X.X86_INS_POPF: _popf(Ty.I16),
    X.X86_INS_POPFQ: _popf(Ty.I64),
    X.X86_INS_CLC: _set_cf(0),
    X.X86_INS_STC: _set_cf(1),
    X.X86_INS_CMC: _set_cf(None),
    X.X86_INS_CLD: _set_df(0),
    X.X86_INS_STD: _set_df(1),
}
