"""String lifters: movs stos lods cmps scas (b/w/d/q), alone or with rep/repe/repne.

Without a prefix a string instruction is ordinary straight-line code: one
element, then rsi/rdi step by +size, or -size when DF is set.

With a prefix, as in QEMU, the instruction is a translation block of its own
that does ONE iteration and re-enters itself: if rcx == 0 it goes on to the
next instruction; else it does one element, decrements rcx, and branches back
to its own address unless rcx reached 0 (or, for repe/repne, the ZF condition
failed). Every iteration thus starts at a block entry, where exit requests and
the instruction budget are checked, and leaves the guest state exact, so a
long `rep movsb` can be interrupted and resumed like on a real CPU.

Retired-instruction counting (`--stats`, cpu.icount): each iteration is one
block execution retiring one instruction, so a rep instruction counts one
retired instruction per iteration, and one when it starts with rcx == 0.

The IR is straight-line (no branch inside a block), so the rcx == 0 case
cannot jump over the element access. It is predicated instead: every element
address becomes [rsp] and every store writes back the value just read there,
so with rcx == 0 no register, flag or byte changes and rsi/rdi are never
dereferenced. The one remaining touch is a read and same-value write of the
top-of-stack slot (which user code always has mapped); an IR side exit
("leave the block if cond") would remove it.

Address size 32 (prefix 0x67) uses esi/edi/ecx, whose writes zero-extend.
"""
from capstone import x86_const as X

from dbt.frontend.x86.context import WIDTH_TY
from dbt.frontend.x86.flags import CCKind
from dbt.ir.ops import Ty

REP, REPNE = 0xF3, 0xF2
SEGMENT_BASE = {0x64: "fs_base", 0x65: "gs_base"}     # only the rsi side can be overridden
INDEX_REGS = {8: (X.X86_REG_RSI, X.X86_REG_RDI, X.X86_REG_RCX),
              4: (X.X86_REG_ESI, X.X86_REG_EDI, X.X86_REG_ECX)}
ACCUMULATOR = {1: X.X86_REG_AL, 2: X.X86_REG_AX, 4: X.X86_REG_EAX, 8: X.X86_REG_RAX}
STRING_OPCODES = frozenset({0xA4, 0xA5, 0xA6, 0xA7, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF})


def _keep(ctx, skip, old, new):
    """`new`, or `old` when the rep count was zero (skip is None outside rep)."""
    return new if skip is None else ctx.b.select(skip, old, new)


def _put(ctx, reg, value, skip):
    """Write a register, unchanged when skipping (a 32-bit write would clear the upper half)."""
    slot, _shift, ty = ctx.reg_info(reg)
    if skip is not None and ty == Ty.I32:
        ctx.put64(slot, _keep(ctx, skip, ctx.get64(slot), ctx.b.zext(value, Ty.I64)))
    else:
        ctx.put_reg(reg, _keep(ctx, skip, ctx.get_reg(reg), value))


def _pointer(ctx, reg, skip, segment=None):
    """Address of the element at [reg] (plus an fs/gs base); [rsp] when skipping."""
    b = ctx.b
    addr = b.zext(ctx.get_reg(reg), Ty.I64)
    if segment is not None:
        addr = b.add(addr, ctx.get64(segment))
    return _keep(ctx, skip, ctx.get64("rsp"), addr)


def _advance(ctx, reg, size, skip):
    """reg += size, or -= size when DF is set."""
    b = ctx.b
    old = ctx.get_reg(reg)
    step = b.select(b.ne(ctx.get64("df"), 0), b.const(old.ty, -size), b.const(old.ty, size))
    _put(ctx, reg, b.add(old, step), skip)


def _element(ctx, insn, kind, ty, si, di, skip):
    """One element of `kind`; returns (first, second) compared values, or None."""
    b = ctx.b
    acc = ACCUMULATOR[ty.value // 8]
    if kind in ("movs", "lods", "cmps"):
        src = b.load(_pointer(ctx, si, skip, SEGMENT_BASE.get(insn.prefix[1])), ty)
    if kind == "movs":
        b.store(_pointer(ctx, di, skip), src)    # skipping: writes back what [rsp] held
    elif kind == "stos":
        value = ctx.get_reg(acc)
        if skip is not None:
            value = b.select(skip, b.load(ctx.get64("rsp"), ty), value)
        b.store(_pointer(ctx, di, skip), value)
    elif kind == "lods":
        _put(ctx, acc, src, skip)
    elif kind == "cmps":
        return src, b.load(_pointer(ctx, di, skip), ty)
    else:
        return ctx.get_reg(acc), b.load(_pointer(ctx, di, skip), ty)
    return None


def _string(kind, size):
    uses_si = kind in ("movs", "lods", "cmps")
    uses_di = kind != "lods"

    def lift(ctx, insn):
        if insn.opcode[0] not in STRING_OPCODES:      # movsd/cmpsd also name SSE2 scalar ops
            raise ctx.unsupported("SSE form of a string mnemonic")
        if insn.addr_size not in INDEX_REGS:
            raise ctx.unsupported("16-bit addressing")
        rep = insn.prefix[0] in (REP, REPNE)
        if rep and ctx.index > 0:
            # The rep instruction must start its block (it re-enters its own
            # address). Raising here makes translate.py drop this instruction's
            # ops and end the block before it, without counting it as retired;
            # the next block then starts at it with index 0.
            raise ctx.unsupported("rep string op starts its own block")
        b, ty = ctx.b, WIDTH_TY[size]
        si, di, cx = INDEX_REGS[insn.addr_size]
        count = ctx.get_reg(cx) if rep else None
        skip = b.eq(count, 0) if rep else None
        compared = _element(ctx, insn, kind, ty, si, di, skip)
        if compared is not None:
            first, second = compared
            result = b.sub(first, second)
            if skip is None:
                ctx.set_cc(CCKind.SUB, result, second, first=first)
            else:
                ctx.set_cc_if(b.not_(skip), CCKind.SUB, result, second)
        if uses_si:
            _advance(ctx, si, size, skip)
        if uses_di:
            _advance(ctx, di, size, skip)
        if not rep:
            return
        left = b.sub(count, 1)
        _put(ctx, cx, left, skip)
        again = b.and_(b.not_(skip), b.ne(left, 0))
        if compared is not None:                     # repe: while equal; repne: while different
            equal = b.eq(*compared)
            again = b.and_(again, equal if insn.prefix[0] == REP else b.not_(equal))
        ctx.end_branch(again, ctx.pc)
    return lift


def _family(kind, mnemonic):
    return {getattr(X, f"X86_INS_{mnemonic}{suffix}"): _string(kind, size)
            for suffix, size in (("B", 1), ("W", 2), ("D", 4), ("Q", 8))}


LIFTERS = {
    **_family("movs", "MOVS"),
    **_family("stos", "STOS"),
    **_family("lods", "LODS"),
    **_family("cmps", "CMPS"),
    **_family("scas", "SCAS"),
}
