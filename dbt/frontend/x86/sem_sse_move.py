"""SSE/SSE2 data movement: XMM loads, stores and lane moves, sign masks, word insert and
extract, MXCSR, fxsave/fxrstor, and the hints that are no-ops here (prefetch, fences, clflush).
SSE3 lddqu and maskmovdqu are not lifted.

Also the operand helpers the SSE integer family (sem_sse_int.py) shares: a 128-bit
operand is an XMM register or 16 bytes of memory that legacy SSE requires 16-byte
aligned (#GP otherwise; only movdqu/movups/movupd take any address). The MMX forms
(MM registers) share capstone ids with these instructions and are not supported here.
An XMM register is read and written whole (LiftContext.get_xmm/put_xmm): every partial
update (movss, movlps, pinsrw, ...) merges explicitly.
"""
from capstone import x86_const as X

from dbt.frontend.x86 import sem_x87
from dbt.ir.exits import Vector
from dbt.ir.ops import Ty

MM_REGS = frozenset(getattr(X, f"X86_REG_MM{i}") for i in range(8))
LOW64 = (1 << 64) - 1
MXCSR_MASK = 0xFFFF          # MXCSR bits that may be set (DAZ supported); others raise #GP
FXSAVE_XMM = 160             # offset of XMM0 in the fxsave area
FXSAVE_ST = 32               # offset of ST0 (16 bytes a register)


# -- operand helpers shared with sem_sse_int.py ------------------------------------

def sse_only(ctx, insn) -> None:
    """The MMX forms (an MM register operand) are not lifted."""
    if any(op.type == X.X86_OP_REG and op.reg in MM_REGS for op in insn.operands):
        raise ctx.unsupported("MMX form")


def xmm_dest(ctx, index: int) -> int:
    """XMM number of operand `index`, which must be an XMM register."""
    n = ctx.xmm_index(index)
    if n is None:
        raise ctx.unsupported("expected an XMM register")
    return n


def mem_address(ctx, index: int, aligned: bool):
    """Address of memory operand `index`; with `aligned`, #GP unless 16-byte aligned."""
    b = ctx.b
    addr = ctx.address(ctx.op(index))
    if aligned:
        b.check(b.ne(b.and_(addr, 15), 0), Vector.GP)
    return addr


def load128(ctx, index: int, aligned: bool = True):
    """An xmm/m128 operand as an i128."""
    n = ctx.xmm_index(index)
    if n is not None:
        return ctx.get_xmm(n)
    if ctx.op(index).type != X.X86_OP_MEM:
        raise ctx.unsupported("expected xmm/m128")
    return ctx.b.load(mem_address(ctx, index, aligned), Ty.I128)


def merge(b, old, new, mask: int):
    """Bits of `new` where `mask` is set, bits of `old` elsewhere (i128)."""
    keep = b.and_(old, ~mask & Ty.I128.mask)
    return b.or_(keep, b.and_(new, mask))


# -- moves ----------------------------------------------------------------------

def _movd_movq(ty):
    """movd/movq: into an XMM register zeroes the rest of it; out of one takes the low lane."""
    def lift(ctx, insn):
        sse_only(ctx, insn)
        b = ctx.b
        n = ctx.xmm_index(0)
        if n is not None:
            ctx.put_xmm(n, b.zext(b.resize(ctx.load(1), ty), Ty.I128))
        else:
            ctx.store(0, b.trunc(ctx.get_xmm(xmm_dest(ctx, 1)), ty))
    return lift


def _move128(aligned: bool):
    """movdqa/movdqu/movaps/movups/movapd/movupd/movnt*: 16 bytes, register or memory."""
    def lift(ctx, insn):
        n = ctx.xmm_index(0)
        if n is not None:
            ctx.put_xmm(n, load128(ctx, 1, aligned))
        else:
            ctx.b.store(mem_address(ctx, 0, aligned), ctx.get_xmm(xmm_dest(ctx, 1)))
    return lift


def _move_scalar(ty):
    """movss/movsd: reg<-reg merges the low lane; reg<-mem zeroes the rest; mem<-reg."""
    def lift(ctx, insn):
        b = ctx.b
        n, m = ctx.xmm_index(0), ctx.xmm_index(1)
        if n is not None and m is not None:
            ctx.put_xmm(n, merge(b, ctx.get_xmm(n), ctx.get_xmm(m), ty.mask))
        elif n is not None:
            ctx.put_xmm(n, b.zext(ctx.load(1), Ty.I128))
        else:
            ctx.store(0, b.trunc(ctx.get_xmm(xmm_dest(ctx, 1)), ty))
    return lift


lift_movsd_sse = _move_scalar(Ty.I64)     # reached through sem_string's MOVSD (shared id)


def _move_half(high: bool):
    """movlps/movlpd/movhps/movhpd: one 64-bit half between an XMM register and memory."""
    shift = 64 if high else 0

    def lift(ctx, insn):
        b = ctx.b
        n = ctx.xmm_index(0)
        if n is not None:
            value = b.shl(b.zext(ctx.load(1), Ty.I128), shift)
            ctx.put_xmm(n, merge(b, ctx.get_xmm(n), value, LOW64 << shift))
        else:
            ctx.store(0, b.trunc(b.lshr(ctx.get_xmm(xmm_dest(ctx, 1)), shift), Ty.I64))
    return lift


def lift_movhlps(ctx, insn):
    b, n = ctx.b, xmm_dest(ctx, 0)
    ctx.put_xmm(n, merge(b, ctx.get_xmm(n), b.lshr(ctx.get_xmm(xmm_dest(ctx, 1)), 64), LOW64))


def lift_movlhps(ctx, insn):
    b, n = ctx.b, xmm_dest(ctx, 0)
    ctx.put_xmm(n, merge(b, ctx.get_xmm(n), b.shl(ctx.get_xmm(xmm_dest(ctx, 1)), 64), LOW64 << 64))


def lift_movnti(ctx, insn):
    ctx.store(0, ctx.load(1))


# -- masks and words ----------------------------------------------------------------

def _movmsk(lane: int):
    """movmskps/movmskpd/pmovmskb: the sign bit of each lane into a GPR (zero-extended)."""
    def lift(ctx, insn):
        sse_only(ctx, insn)
        ctx.store(0, ctx.b.vmovmsk(lane, ctx.get_xmm(xmm_dest(ctx, 1))))
    return lift


def lift_pextrw(ctx, insn):
    """Word imm&7 of the XMM source, zero-extended into r32/r64 (or stored as m16)."""
    sse_only(ctx, insn)
    b = ctx.b
    shift = 16 * (ctx.op(2).imm & 7)
    word = b.trunc(b.lshr(ctx.get_xmm(xmm_dest(ctx, 1)), shift), Ty.I16)
    ctx.store(0, b.zext(word, ctx.width(0)))


def lift_pinsrw(ctx, insn):
    """Word imm&7 of the XMM destination = the low 16 bits of r32/m16."""
    sse_only(ctx, insn)
    b, n = ctx.b, xmm_dest(ctx, 0)
    shift = 16 * (ctx.op(2).imm & 7)
    word = b.zext(b.trunc(ctx.load(1), Ty.I16), Ty.I128)
    ctx.put_xmm(n, merge(b, ctx.get_xmm(n), b.shl(word, shift), 0xFFFF << shift))


def lift_nop(ctx, insn):
    """prefetch*, lfence/sfence/mfence: no architectural effect on one guest CPU (prefetches never fault)."""


def lift_clflush(ctx, insn):
    """No cache to flush; but the address is checked as a byte load would be (it may fault)."""
    ctx.load(0)


# -- MXCSR and the fxsave area -----------------------------------------------------------

def _check_mxcsr(ctx, value):
    b = ctx.b
    b.check(b.ne(b.and_(value, ~MXCSR_MASK & Ty.I32.mask), 0), Vector.GP)


def lift_ldmxcsr(ctx, insn):
    value = ctx.load(0)
    _check_mxcsr(ctx, value)
    ctx.b.put("mxcsr", value)


def lift_stmxcsr(ctx, insn):
    ctx.store(0, ctx.b.get("mxcsr", Ty.I32))


def _fsw(ctx):
    """The x87 status word with TOP (slot fpu_top) in bits 11-13."""
    b = ctx.b
    sw = b.and_(b.get("fpu_sw", Ty.I16), ~0x3800 & 0xFFFF)
    return b.or_(sw, b.shl(b.and_(b.get("fpu_top", Ty.I16), 7), 11))


def _abridged_tag(ctx):
    """Full tag word (2 bits a register, 11 = empty) -> one bit a register, 1 = not empty."""
    b = ctx.b
    tag = b.get("fpu_tag", Ty.I16)
    bits = b.const(Ty.I16, 0)
    for i in range(8):
        empty = b.eq(b.and_(b.lshr(tag, 2 * i), 3), 3)
        bits = b.or_(bits, b.shl(b.zext(b.not_(empty), Ty.I16), i))
    return bits


def _full_tag(ctx, abridged):
    """One bit a register (1 = valid) -> the full tag word: 00 (valid) or 11 (empty)."""
    b = ctx.b
    tag = b.const(Ty.I16, 0)
    for i in range(8):
        empty = b.and_(b.lshr(b.not_(abridged), i), 1)
        tag = b.or_(tag, b.shl(b.mul(empty, 3), 2 * i))
    return tag


def lift_fxsave(ctx, insn):
    """fxsave/fxsave64: FCW FSW FTW(abridged) FOP=0 FIP=0 FDP=0 MXCSR MXCSR_MASK, ST0-7, XMM0-15.

    ST0-7 (slots st0..st7, already in the area's stack order) take 16 bytes each, the
    6 above the f80 zero. FOP/FIP/FDP (the last x87 instruction and operand) are not
    modelled: zeros. Bytes 416-511 are left untouched, as the CPU leaves them.
    """
    b = ctx.b
    base = mem_address(ctx, 0, aligned=True)
    head = b.const(Ty.I128, 0)
    for shift, value in ((0, b.get("fpu_cw", Ty.I16)), (16, _fsw(ctx)), (32, _abridged_tag(ctx))):
        head = b.or_(head, b.shl(b.zext(value, Ty.I128), shift))
    b.store(base, head)
    csr = b.or_(b.shl(b.zext(b.get("mxcsr", Ty.I32), Ty.I128), 64), b.const(Ty.I128, MXCSR_MASK << 96))
    b.store(b.add(base, 16), csr)
    for i in range(8):
        b.store(b.add(base, FXSAVE_ST + 16 * i), b.get(f"st{i}", Ty.I128))
    for i in range(16):
        b.store(b.add(base, FXSAVE_XMM + 16 * i), ctx.get_xmm(i))


def lift_fxrstor(ctx, insn):
    """fxrstor/fxrstor64: the inverse of fxsave; ST0-7 in stack order, the low 80 bits each.

    The control word loads as fldcw loads it, and the status word's ES and B summary
    bits are recomputed (sem_x87). Every load and the MXCSR check come before the first
    write, so a fault leaves the state unchanged.
    """
    b = ctx.b
    base = mem_address(ctx, 0, aligned=True)
    fcw = sem_x87.control_word(ctx, b.load(base, Ty.I16))
    fsw = b.load(b.add(base, 2), Ty.I16)
    ftw = b.zext(b.load(b.add(base, 4), Ty.I8), Ty.I16)
    mxcsr = b.load(b.add(base, 24), Ty.I32)
    sts = [b.and_(b.load(b.add(base, FXSAVE_ST + 16 * i), Ty.I128), sem_x87.F80_MASK) for i in range(8)]
    xmms = [b.load(b.add(base, FXSAVE_XMM + 16 * i), Ty.I128) for i in range(16)]
    _check_mxcsr(ctx, mxcsr)
    b.put("fpu_cw", fcw)
    b.put("fpu_sw", sem_x87.with_summary(ctx, fsw, fcw))
    for i, value in enumerate(sts):
        b.put(f"st{i}", value)
    b.put("fpu_top", b.and_(b.lshr(fsw, 11), 7))
    b.put("fpu_tag", _full_tag(ctx, ftw))
    b.put("mxcsr", mxcsr)
    for i, value in enumerate(xmms):
        ctx.put_xmm(i, value)


LIFTERS = {
    X.X86_INS_MOVD: _movd_movq(Ty.I32),
    X.X86_INS_MOVQ: _movd_movq(Ty.I64),
    X.X86_INS_MOVDQA: _move128(aligned=True),
    X.X86_INS_MOVAPS: _move128(aligned=True),
    X.X86_INS_MOVAPD: _move128(aligned=True),
    X.X86_INS_MOVNTDQ: _move128(aligned=True),
    X.X86_INS_MOVNTPS: _move128(aligned=True),
    X.X86_INS_MOVNTPD: _move128(aligned=True),
    X.X86_INS_MOVDQU: _move128(aligned=False),
    X.X86_INS_MOVUPS: _move128(aligned=False),
    X.X86_INS_MOVUPD: _move128(aligned=False),
    X.X86_INS_MOVSS: _move_scalar(Ty.I32),
    X.X86_INS_MOVLPS: _move_half(high=False),
    X.X86_INS_MOVLPD: _move_half(high=False),
    X.X86_INS_MOVHPS: _move_half(high=True),
    X.X86_INS_MOVHPD: _move_half(high=True),
    X.X86_INS_MOVHLPS: lift_movhlps,
    X.X86_INS_MOVLHPS: lift_movlhps,
    X.X86_INS_MOVNTI: lift_movnti,
    X.X86_INS_MOVMSKPS: _movmsk(32),
    X.X86_INS_MOVMSKPD: _movmsk(64),
    X.X86_INS_PMOVMSKB: _movmsk(8),
    X.X86_INS_PEXTRW: lift_pextrw,
    X.X86_INS_PINSRW: lift_pinsrw,
    X.X86_INS_PREFETCHNTA: lift_nop,
    X.X86_INS_PREFETCHT0: lift_nop,
    X.X86_INS_PREFETCHT1: lift_nop,
    X.X86_INS_PREFETCHT2: lift_nop,
    X.X86_INS_PREFETCHW: lift_nop,
    X.X86_INS_LFENCE: lift_nop,
    X.X86_INS_SFENCE: lift_nop,
    X.X86_INS_MFENCE: lift_nop,
    X.X86_INS_CLFLUSH: lift_clflush,
    X.X86_INS_LDMXCSR: lift_ldmxcsr,
    X.X86_INS_STMXCSR: lift_stmxcsr,
    X.X86_INS_FXSAVE: lift_fxsave,
    X.X86_INS_FXSAVE64: lift_fxsave,
    X.X86_INS_FXRSTOR: lift_fxrstor,
    X.X86_INS_FXRSTOR64: lift_fxrstor,
}
