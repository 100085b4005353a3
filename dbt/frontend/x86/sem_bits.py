"""Bit lifters: bt bts btr btc bsf bsr tzcnt lzcnt popcnt bswap.

bt* on memory with a register offset reach outside the operand: the offset is
a signed bit index from the operand's address, as on the CPU. Results the SDM
leaves undefined follow the host: bsf/bsr of zero keep the whole destination
register, bswap of a 16-bit register zeroes it.
"""
from capstone import x86_const as X

from dbt.frontend.x86.flags import CCKind, pack_flags
from dbt.frontend.x86.sem_xchg import put_reg_if
from dbt.ir.ops import Ty


def _bit_operand(ctx):
    """(value, writer, bit index) of a bt-family destination; the index has the value's type."""
    b = ctx.b
    dest, offset = ctx.op(0), ctx.op(1)
    ty = ctx.width(0)
    if offset.type == X.X86_OP_IMM:
        value, write = ctx.load_store(0)
        return value, write, b.const(ty, offset.imm & (ty.value - 1))
    index = ctx.get_reg(offset.reg)
    if dest.type != X.X86_OP_MEM:
        value, write = ctx.load_store(0)
        return value, write, b.and_(index, ty.value - 1)
    unit_shift = ty.value.bit_length() - 1            # log2(bits per operand)
    units = b.ashr(b.sext(index, Ty.I64), unit_shift)
    addr = b.add(ctx.address(dest), b.shl(units, unit_shift - 3))
    if ctx.insn.addr_size == 4 and dest.mem.segment not in (X.X86_REG_FS, X.X86_REG_GS):
        addr = b.zext(b.trunc(addr, Ty.I32), Ty.I64)
    return b.load(addr, ty), lambda v: b.store(addr, v), b.and_(index, ty.value - 1)


def _set_cf_keep_zf(ctx, cf):
    """CF = cf; ZF kept; OF SF AF PF are undefined (kept here too)."""
    b = ctx.b
    flags = b.and_(ctx.eflags(), ~1)
    ctx.set_eflags(b.or_(flags, b.zext(cf, Ty.I64)))


def _bt(opcode):
    """bt (opcode None: read only), bts (or), btr (and-not), btc (xor)."""
    def lift(ctx, insn):
        b = ctx.b
        value, write, index = _bit_operand(ctx)
        cf = b.trunc(b.lshr(value, index), Ty.I1)
        if opcode is not None:
            mask = b.shl(b.const(value.ty, 1), index)
            if opcode == "and":
                mask = b.not_(mask)
            write(b.binop(opcode, value, mask))
        _set_cf_keep_zf(ctx, cf)
    return lift


def _bit_scan(reverse):
    """bsf/bsr: dest = index of the lowest/highest set bit; source zero: ZF = 1, dest kept."""
    def lift(ctx, insn):
        b = ctx.b
        src = ctx.load(1)
        if reverse:
            index = b.sub(b.const(src.ty, src.ty.value - 1), b.ctlz(src))
        else:
            index = b.cttz(src)
        put_reg_if(ctx, ctx.op(0).reg, b.ne(src, 0), index)
        ctx.set_cc(CCKind.LOGIC, src)     # ZF = (src == 0); the others are undefined
    return lift


def _count_zeros(opcode):
    """tzcnt/lzcnt: the count (width for zero); CF = (source == 0), ZF = (count == 0)."""
    def lift(ctx, insn):
        b = ctx.b
        src = ctx.load(1)
        count = b.unop(opcode, src)
        ctx.store(0, count)
        ctx.set_eflags(pack_flags(b, {"CF": b.eq(src, 0), "ZF": b.eq(count, 0)}))
    return lift


def lift_popcnt(ctx, insn):
    b = ctx.b
    src = ctx.load(1)
    ctx.store(0, b.ctpop(src))
    ctx.set_eflags(pack_flags(b, {"ZF": b.eq(src, 0)}))


def lift_bswap(ctx, insn):
    value = ctx.load(0)
    if value.ty == Ty.I16:
        ctx.store(0, ctx.b.const(Ty.I16, 0))    # undefined in the SDM; the host zeroes it
    else:
        ctx.store(0, ctx.b.bswap(value))


LIFTERS = {
    X.X86_INS_BT: _bt(None),
    X.X86_INS_BTS: _bt("or"),
    X.X86_INS_BTR: _bt("and"),
    X.X86_INS_BTC: _bt("xor"),
    X.X86_INS_BSF: _bit_scan(False),
    X.X86_INS_BSR: _bit_scan(True),
    X.X86_INS_TZCNT: _count_zeros("cttz"),
    X.X86_INS_LZCNT: _count_zeros("ctlz"),
    X.X86_INS_POPCNT: lift_popcnt,
    X.X86_INS_BSWAP: lift_bswap,
}
