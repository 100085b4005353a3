"""String lifters: movs stos lods cmps scas (b/w/d/q), alone or with rep/repe/repne.

Without a prefix a string instruction is ordinary straight-line code: one
element, then rsi/rdi step by +size, or -size when DF is set.

With a prefix, as in QEMU, the instruction is a translation block of its own
that does ONE iteration and re-enters itself: if rcx == 0 it leaves for the
next instruction at once (an `exit_if` side exit, touching no memory and no
flags); else it does one element, decrements rcx, and branches back
to its own address unless rcx reached 0 (or, for repe/repne, the ZF condition
failed). Every iteration thus starts at a block entry, where exit requests and
the instruction budget are checked, and leaves the guest state exact, so a
long `rep movsb` can be interrupted and resumed like on a real CPU.

Retired-instruction counting (`--stats`, cpu.icount): each iteration is one
block execution retiring one instruction, so a rep instruction counts one
retired instruction per iteration, and one when it starts with rcx == 0.

Address size 32 (prefix 0x67) uses esi/edi/ecx, whose writes zero-extend.
"""
from capstone import x86_const as X

from dbt.frontend.x86.context import WIDTH_TY
from dbt.frontend.x86.flags import CCKind
from dbt.frontend.x86.sem_sse_float import lift_cmp_float
from dbt.frontend.x86.sem_sse_move import lift_movsd_sse
from dbt.ir.ops import Ty

REP, REPNE, LOCK = 0xF3, 0xF2, 0xF0
SEGMENT_BASE = {0x64: "fs_base", 0x65: "gs_base"}     # only the rsi side can be overridden
INDEX_REGS = {8: (X.X86_REG_RSI, X.X86_REG_RDI, X.X86_REG_RCX),
              4: (X.X86_REG_ESI, X.X86_REG_EDI, X.X86_REG_ECX)}
ACCUMULATOR = {1: X.X86_REG_AL, 2: X.X86_REG_AX, 4: X.X86_REG_EAX, 8: X.X86_REG_RAX}
STRING_OPCODES = frozenset({0xA4, 0xA5, 0xA6, 0xA7, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF})


def _pointer(ctx, reg, segment=None):
    """Address of the element at [reg] (plus an fs/gs base)."""
    b = ctx.b
    addr = b.zext(ctx.get_reg(reg), Ty.I64)
    return b.add(addr, ctx.get64(segment)) if segment is not None else addr


def _advance(ctx, reg, step):
    """reg += step (an i64: -size when DF is set, else +size), at the register's width."""
    old = ctx.get_reg(reg)
    ctx.put_reg(reg, ctx.b.add(old, ctx.b.resize(step, old.ty)))


def _element(ctx, insn, kind, ty, si, di):
    """One element of `kind`; returns the (first, second) values it compares, or None."""
    b = ctx.b
    acc = ACCUMULATOR[ty.value // 8]
    src = None
    if kind in ("movs", "lods", "cmps"):
        src = b.load(_pointer(ctx, si, SEGMENT_BASE.get(insn.prefix[1])), ty)
    if kind == "movs":
        b.store(_pointer(ctx, di), src)
    elif kind == "stos":
        b.store(_pointer(ctx, di), ctx.get_reg(acc))
    elif kind == "lods":
        ctx.put_reg(acc, src)
    else:                                        # cmps: [rsi] - [rdi]; scas: acc - [rdi]
        first = src if kind == "cmps" else ctx.get_reg(acc)
        return first, b.load(_pointer(ctx, di), ty)
    return None


def _string(kind, size, sse=None):
    """Lifter of one string op; `sse` lifts the SSE2 instruction sharing its capstone id."""
    uses_si = kind in ("movs", "lods", "cmps")
    uses_di = kind != "lods"

    def lift(ctx, insn):
        if insn.opcode[0] not in STRING_OPCODES:      # movsd/cmpsd also name SSE2 scalar ops
            if sse is None:
                raise ctx.unsupported("SSE form of a string mnemonic")
            return sse(ctx, insn)
        if insn.addr_size not in INDEX_REGS or insn.prefix[0] == LOCK:
            raise ctx.unsupported("lock prefix or 16-bit addressing")   # lock: #UD on a CPU
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
        if rep:
            ctx.exit_if(b.eq(count, 0), ctx.next_pc)
        compared = _element(ctx, insn, kind, ty, si, di)
        if compared is not None:
            first, second = compared
            ctx.set_cc(CCKind.SUB, b.sub(first, second), second, first=first)
        step = b.select(b.ne(ctx.get64("df"), 0), b.const(Ty.I64, -size), b.const(Ty.I64, size))
        if uses_si:
            _advance(ctx, si, step)
        if uses_di:
            _advance(ctx, di, step)
        if rep:
            _repeat(ctx, insn, cx, count, compared)
    return lift


def _repeat(ctx, insn, cx, count, compared):
    """End a rep iteration: rcx -= 1, then back to this instruction or on to the next."""
    b = ctx.b
    left = b.sub(count, 1)
    ctx.put_reg(cx, left)
    again = b.ne(left, 0)
    if compared is not None:                     # repe: while equal; repne: while different
        equal = b.eq(*compared)
        again = b.and_(again, equal if insn.prefix[0] == REP else b.not_(equal))
    ctx.end_branch(again, ctx.pc)


def _family(kind, mnemonic, sse_dword=None, sse_all=None):
    """The four sizes of one string op. Non-string encodings sharing an id go to an SSE lifter:
    `sse_dword` for the D id only (movsd), `sse_all` for every id (capstone 5.0.9 numbers the
    0F C2 compare aliases CMPPD + predicate, landing them on CMPSB/CMPSW/CMPSD/CMPSQ)."""
    return {getattr(X, f"X86_INS_{mnemonic}{suffix}"):
            _string(kind, size, sse_all or (sse_dword if size == 4 else None))
            for suffix, size in (("B", 1), ("W", 2), ("D", 4), ("Q", 8))}


LIFTERS = {
    **_family("movs", "MOVS", sse_dword=lift_movsd_sse),     # movsd xmm, xmm/m64 and m64, xmm
    **_family("stos", "STOS"),
    **_family("lods", "LODS"),
    **_family("cmps", "CMPS", sse_all=lift_cmp_float),
    **_family("scas", "SCAS"),
}
