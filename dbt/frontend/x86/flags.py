"""Lazy condition flags, as QEMU's CCOp: an op records what it did, consumers derive flags.

Guest state holds `cc_op` (kind * 4 + log2(width in bytes)) and up to three
operands. The meaning of the operands per kind:

    EFLAGS  cc_src = materialised RFLAGS arithmetic bits
    ADD     cc_dst = result, cc_src = second operand
    ADC     cc_dst = result, cc_src = second operand, cc_src2 = carry in
    SUB     cc_dst = result, cc_src = second operand           (also CMP)
    SBB     cc_dst = result, cc_src = second operand, cc_src2 = borrow in
    LOGIC   cc_dst = result; CF = OF = AF = 0
    INC/DEC cc_dst = result, cc_src = CF before the op (INC/DEC keep CF)
    SHL     cc_dst = result, cc_src = operand shifted by count-1
    SAR     cc_dst = result, cc_src = operand shifted by count-1 (SHR and SAR)
    MUL     cc_dst = low result, cc_src = 1 when the result overflowed

`flag_bits` is the one definition of these formulas. Lifters call it with the
operands as IR values when the kind is known at translate time; `cc_all_case`
builds the same formulas into a small IR function for the dynamic case, which
both backends run (interpreter) or compile (LLVM) from that one source.
"""
import enum
import functools

from dbt.ir.builder import Builder
from dbt.ir.ops import Op, Ty, Value

FLAG_BIT = {"CF": 0, "PF": 2, "AF": 4, "ZF": 6, "SF": 7, "OF": 11}
ALL_FLAGS = tuple(FLAG_BIT)
WIDTHS = (Ty.I8, Ty.I16, Ty.I32, Ty.I64)


class CCKind(enum.IntEnum):
    EFLAGS = 0
    ADD = 1
    ADC = 2
    SUB = 3
    SBB = 4
    LOGIC = 5
    INC = 6
    DEC = 7
    SHL = 8
    SAR = 9
    MUL = 10


def cc_op_value(kind: CCKind, ty: Ty) -> int:
    return 0 if kind == CCKind.EFLAGS else kind * 4 + WIDTHS.index(ty)


def decode_cc_op(value: int) -> tuple[CCKind, Ty]:
    return CCKind(value >> 2), WIDTHS[value & 3]


ALL_CC_OPS = tuple(sorted({cc_op_value(k, t) for k in CCKind for t in WIDTHS}))


def parity(b: Builder, r: Value) -> Value:
    """PF: 1 when the low byte of r has an even number of set bits."""
    low = b.trunc(r, Ty.I8) if r.ty != Ty.I8 else r
    return b.eq(b.and_(b.ctpop(low), 1), 0)


def flag_bits(b: Builder, kind: CCKind, dst: Value, src: Value, src2: Value | None,
              which=ALL_FLAGS) -> dict[str, Value]:
    """The requested flags (i1 values) of an op of `kind` on dst/src/src2 (all of dst's type)."""
    out = {}
    if kind == CCKind.EFLAGS:
        return {f: b.bit(src, FLAG_BIT[f]) for f in which}
    r, s, ty = dst, src, dst.ty
    if kind in (CCKind.ADD, CCKind.ADC):
        a = b.sub(r, s) if kind == CCKind.ADD else b.sub(b.sub(r, s), src2)
    elif kind in (CCKind.SUB, CCKind.SBB):
        a = b.add(r, s) if kind == CCKind.SUB else b.add(b.add(r, s), src2)
    elif kind == CCKind.INC:
        a = b.sub(r, 1)
    elif kind == CCKind.DEC:
        a = b.add(r, 1)
    else:
        a = None
    for f in which:
        if f == "ZF":
            out[f] = b.eq(r, 0)
        elif f == "SF":
            out[f] = b.msb(r)
        elif f == "PF":
            out[f] = parity(b, r)
        elif f == "AF":
            if a is None:
                out[f] = b.const(Ty.I1, 0)
            else:
                other = s if kind in (CCKind.ADD, CCKind.ADC, CCKind.SUB, CCKind.SBB) else b.const(ty, 1)
                out[f] = b.bit(b.xor(b.xor(a, other), r), 4)
        elif f == "CF":
            out[f] = _carry(b, kind, r, s, src2, a)
        elif f == "OF":
            out[f] = _overflow(b, kind, r, s, a)
    return out


def _carry(b: Builder, kind: CCKind, r: Value, s: Value, c: Value | None, a: Value | None) -> Value:
    if kind == CCKind.ADD:
        return b.ult(r, s)
    if kind == CCKind.ADC:
        return b.select(b.ne(c, 0), b.ule(r, s), b.ult(r, s))
    if kind == CCKind.SUB:
        return b.ult(a, s)
    if kind == CCKind.SBB:
        return b.select(b.ne(c, 0), b.ule(a, s), b.ult(a, s))
    if kind in (CCKind.INC, CCKind.DEC):
        return b.ne(s, 0)
    if kind == CCKind.SHL:
        return b.msb(s)
    if kind == CCKind.SAR:
        return b.bit(s, 0)
    if kind == CCKind.MUL:
        return b.ne(s, 0)
    return b.const(Ty.I1, 0)            # LOGIC


def _overflow(b: Builder, kind: CCKind, r: Value, s: Value, a: Value | None) -> Value:
    sign_min = 1 << (r.ty.value - 1)
    if kind in (CCKind.ADD, CCKind.ADC):
        return b.msb(b.and_(b.xor(a, r), b.xor(s, r)))
    if kind in (CCKind.SUB, CCKind.SBB):
        return b.msb(b.and_(b.xor(a, s), b.xor(a, r)))
    if kind == CCKind.INC:
        return b.eq(r, sign_min)
    if kind == CCKind.DEC:
        return b.eq(r, sign_min - 1)
    if kind in (CCKind.SHL, CCKind.SAR):
        return b.msb(b.xor(s, r))
    if kind == CCKind.MUL:
        return b.ne(s, 0)
    return b.const(Ty.I1, 0)            # LOGIC


def pack_flags(b: Builder, bits: dict[str, Value]) -> Value:
    """An i64 RFLAGS value with the given flag bits set (others zero)."""
    packed = b.const(Ty.I64, 0)
    for f, v in bits.items():
        packed = b.or_(packed, b.shl(b.zext(v, Ty.I64), FLAG_BIT[f]))
    return packed


@functools.lru_cache(maxsize=None)
def cc_all_case(cc_op: int) -> tuple[list[Value], list[Op], Value]:
    """IR function (params dst, src, src2 as i64) -> i64 RFLAGS arithmetic bits for one cc_op."""
    kind, ty = decode_cc_op(cc_op)
    params = [Value(Ty.I64) for _ in range(3)]
    ops: list[Op] = []
    b = Builder(ops)
    if kind == CCKind.EFLAGS:
        result = b.and_(params[1], sum(1 << bit for bit in FLAG_BIT.values()))
    else:
        dst, src, src2 = (b.trunc(p, ty) for p in params)
        result = pack_flags(b, flag_bits(b, kind, dst, src, src2))
    return params, ops, result


# Condition codes: the low nibble of jcc/setcc/cmovcc opcodes; odd codes negate.
CONDITIONS = {"o": 0, "no": 1, "b": 2, "ae": 3, "e": 4, "ne": 5, "be": 6, "a": 7,
              "s": 8, "ns": 9, "p": 10, "np": 11, "l": 12, "ge": 13, "le": 14, "g": 15}
COND_FLAGS = {0: ("OF",), 2: ("CF",), 4: ("ZF",), 6: ("CF", "ZF"), 8: ("SF",),
              10: ("PF",), 12: ("SF", "OF"), 14: ("ZF", "SF", "OF")}


def condition_from_flags(b: Builder, code: int, f: dict[str, Value]) -> Value:
    """Evaluate condition `code` from individual flag values."""
    base = code & ~1
    if base == 0:
        c = f["OF"]
    elif base == 2:
        c = f["CF"]
    elif base == 4:
        c = f["ZF"]
    elif base == 6:
        c = b.or_(f["CF"], f["ZF"])
    elif base == 8:
        c = f["SF"]
    elif base == 10:
        c = f["PF"]
    elif base == 12:
        c = b.xor(f["SF"], f["OF"])
    else:
        c = b.or_(f["ZF"], b.xor(f["SF"], f["OF"]))
    return b.xor(c, b.const(Ty.I1, 1)) if code & 1 else c


_SUB_COMPARE = {2: "ult", 4: "eq", 6: "ule", 12: "slt", 14: "sle"}


def fast_condition(b: Builder, code: int, kind: CCKind, dst: Value, first: Value | None,
                   src: Value) -> Value | None:
    """A direct compare for common (kind, condition) pairs known at translate time, else None.

    `first` is the first operand of a SUB (cmp a, b) when the lifter knows it.
    """
    base, neg = code & ~1, code & 1
    c = None
    if kind == CCKind.SUB and first is not None and base in _SUB_COMPARE:
        c = b.cmp(_SUB_COMPARE[base], first, src)
    elif kind == CCKind.LOGIC and base in (2, 4, 6, 8, 12, 14):
        zero = b.const(dst.ty, 0)
        c = {2: lambda: b.const(Ty.I1, 0), 4: lambda: b.eq(dst, zero), 6: lambda: b.eq(dst, zero),
             8: lambda: b.slt(dst, zero), 12: lambda: b.slt(dst, zero),
             14: lambda: b.sle(dst, zero)}[base]()
    elif base in (4, 8) and kind != CCKind.EFLAGS:
        c = b.eq(dst, 0) if base == 4 else b.msb(dst)
    if c is None:
        return None
    return b.xor(c, b.const(Ty.I1, 1)) if neg else c
