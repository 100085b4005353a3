"""SSE/SSE2 integer SIMD on XMM registers: logic, lane arithmetic, compares, shifts,
shuffles, unpacks and packs (and the bitwise ps/pd forms, which are integer logic).

Almost every instruction is `xmm = op(xmm, xmm/m128)` over the IR's vector lane ops;
the rest (pmuludq, pmaddwd, psadbw) compose them. A memory source must be 16-byte
aligned (#GP otherwise), as legacy SSE requires. The MMX forms (MM registers) share
capstone ids with these and are not lifted: see sse_only in sem_sse_move.py.
"""
from capstone import x86_const as X

from dbt.frontend.x86.sem_sse_move import load128, sse_only, xmm_dest
from dbt.ir.ops import Ty

EVEN_DWORDS_LOW32 = (0xFFFFFFFF << 64) | 0xFFFFFFFF    # the low dword of each quadword


def _binary(fn):
    """xmm = fn(b, xmm, xmm/m128)."""
    def lift(ctx, insn):
        sse_only(ctx, insn)
        n = xmm_dest(ctx, 0)
        src = load128(ctx, 1)
        ctx.put_xmm(n, fn(ctx.b, ctx.get_xmm(n), src))
    return lift


def _binary_imm(fn):
    """xmm = fn(b, xmm, xmm/m128, imm8)."""
    def lift(ctx, insn):
        sse_only(ctx, insn)
        n = xmm_dest(ctx, 0)
        src = load128(ctx, 1)
        ctx.put_xmm(n, fn(ctx.b, ctx.get_xmm(n), src, ctx.op(2).imm & 0xFF))
    return lift


def _vec(opcode: str, lane: int):
    return _binary(lambda b, a, s: b.vec(opcode, lane, a, s))


def _shuffle(lane: int, indices):
    """Lanes picked from (xmm, xmm/m128) by constant indices."""
    indices = tuple(indices)
    return _binary(lambda b, a, s: b.vshuffle(lane, a, s, indices))


# -- logic --------------------------------------------------------------------------

def _andn(b, a, s):
    return b.and_(b.not_(a), s)


# -- composed arithmetic ------------------------------------------------------------------

def _pmuludq(b, a, s):
    """Unsigned 32x32->64 products of the low dword of each quadword."""
    low = b.const(Ty.I128, EVEN_DWORDS_LOW32)
    return b.vec("vmul", 64, b.and_(a, low), b.and_(s, low))


def _pmaddwd(b, a, s):
    """Signed word products (32 bits: high half from vmulhs), adjacent pairs summed."""
    lo, hi = b.vec("vmul", 16, a, s), b.vec("vmulhs", 16, a, s)
    even = b.vshuffle(16, lo, hi, (0, 8, 2, 10, 4, 12, 6, 14))
    odd = b.vshuffle(16, lo, hi, (1, 9, 3, 11, 5, 13, 7, 15))
    return b.vec("vadd", 32, even, odd)


def _pairwise_sum(b, v, lane: int):
    """Lanes of 2*lane bits, each the sum of the two `lane`-bit lanes it covers (zero-extended)."""
    n = 128 // lane
    even = b.vshuffle(lane, v, v, [i if i % 2 == 0 else -1 for i in range(n)])
    odd = b.vshuffle(lane, v, v, [i + 1 if i % 2 == 0 else -1 for i in range(n)])
    return b.vec("vadd", 2 * lane, even, odd)


def _psadbw(b, a, s):
    """Sum of |a - b| over the bytes of each quadword, in that quadword's low 16 bits."""
    diff = b.vec("vsub", 8, b.vec("vmaxu", 8, a, s), b.vec("vminu", 8, a, s))
    return _pairwise_sum(b, _pairwise_sum(b, _pairwise_sum(b, diff, 8), 16), 32)


# -- shifts ---------------------------------------------------------------------------

def _shift(opcode: str, lane: int):
    """psll/psrl/psra by imm8 or by the low 64 bits of xmm/m128 (counts >= lane: 0 or sign)."""
    def lift(ctx, insn):
        sse_only(ctx, insn)
        b, n = ctx.b, xmm_dest(ctx, 0)
        if ctx.op(1).type == X.X86_OP_IMM:
            count = b.const(Ty.I64, ctx.op(1).imm & 0xFF)
        else:
            count = b.trunc(load128(ctx, 1), Ty.I64)
        ctx.put_xmm(n, b.vec(opcode, lane, ctx.get_xmm(n), count))
    return lift


def _byte_shift(left: bool):
    """pslldq/psrldq: the whole register by imm8 bytes (16 or more: zero)."""
    def lift(ctx, insn):
        b, n = ctx.b, xmm_dest(ctx, 0)
        k = ctx.op(1).imm & 0xFF
        pick = [i - k if left else i + k for i in range(16)]
        indices = [j if 0 <= j < 16 else -1 for j in pick]
        v = ctx.get_xmm(n)
        ctx.put_xmm(n, b.vshuffle(8, v, v, indices))
    return lift


# -- shuffles with an immediate ---------------------------------------------------------

def _fields(imm: int, count: int, bits: int = 2) -> list[int]:
    return [(imm >> (bits * i)) & ((1 << bits) - 1) for i in range(count)]


def _pshufd(b, a, s, imm):
    return b.vshuffle(32, s, s, _fields(imm, 4))


def _pshuflw(b, a, s, imm):
    return b.vshuffle(16, s, s, _fields(imm, 4) + [4, 5, 6, 7])


def _pshufhw(b, a, s, imm):
    return b.vshuffle(16, s, s, [0, 1, 2, 3] + [4 + f for f in _fields(imm, 4)])


def _shufps(b, a, s, imm):
    f = _fields(imm, 4)
    return b.vshuffle(32, a, s, (f[0], f[1], 4 + f[2], 4 + f[3]))


def _shufpd(b, a, s, imm):
    return b.vshuffle(64, a, s, (imm & 1, 2 + ((imm >> 1) & 1)))


def _unpack(lane: int, high: bool):
    """punpckl*/punpckh*/unpck*: interleave the low (or high) halves of dst and src."""
    n = 128 // lane
    start = n // 2 if high else 0
    return _shuffle(lane, [j for i in range(start, start + n // 2) for j in (i, n + i)])


LIFTERS = {
    # logic (the ps/pd forms are the same bitwise operations)
    **{ins: _binary(lambda b, a, s: b.and_(a, s))
       for ins in (X.X86_INS_PAND, X.X86_INS_ANDPS, X.X86_INS_ANDPD)},
    **{ins: _binary(_andn) for ins in (X.X86_INS_PANDN, X.X86_INS_ANDNPS, X.X86_INS_ANDNPD)},
    **{ins: _binary(lambda b, a, s: b.or_(a, s))
       for ins in (X.X86_INS_POR, X.X86_INS_ORPS, X.X86_INS_ORPD)},
    **{ins: _binary(lambda b, a, s: b.xor(a, s))
       for ins in (X.X86_INS_PXOR, X.X86_INS_XORPS, X.X86_INS_XORPD)},
    # arithmetic
    X.X86_INS_PADDB: _vec("vadd", 8), X.X86_INS_PADDW: _vec("vadd", 16),
    X.X86_INS_PADDD: _vec("vadd", 32), X.X86_INS_PADDQ: _vec("vadd", 64),
    X.X86_INS_PSUBB: _vec("vsub", 8), X.X86_INS_PSUBW: _vec("vsub", 16),
    X.X86_INS_PSUBD: _vec("vsub", 32), X.X86_INS_PSUBQ: _vec("vsub", 64),
    X.X86_INS_PADDSB: _vec("vaddss", 8), X.X86_INS_PADDSW: _vec("vaddss", 16),
    X.X86_INS_PADDUSB: _vec("vaddsu", 8), X.X86_INS_PADDUSW: _vec("vaddsu", 16),
    X.X86_INS_PSUBSB: _vec("vsubss", 8), X.X86_INS_PSUBSW: _vec("vsubss", 16),
    X.X86_INS_PSUBUSB: _vec("vsubsu", 8), X.X86_INS_PSUBUSW: _vec("vsubsu", 16),
    X.X86_INS_PMULLW: _vec("vmul", 16),
    X.X86_INS_PMULHW: _vec("vmulhs", 16),
    X.X86_INS_PMULHUW: _vec("vmulhu", 16),
    X.X86_INS_PMULUDQ: _binary(_pmuludq),
    X.X86_INS_PMADDWD: _binary(_pmaddwd),
    X.X86_INS_PSADBW: _binary(_psadbw),
    X.X86_INS_PAVGB: _vec("vavgu", 8), X.X86_INS_PAVGW: _vec("vavgu", 16),
    X.X86_INS_PMINUB: _vec("vminu", 8), X.X86_INS_PMAXUB: _vec("vmaxu", 8),
    X.X86_INS_PMINSW: _vec("vmins", 16), X.X86_INS_PMAXSW: _vec("vmaxs", 16),
    # compares
    X.X86_INS_PCMPEQB: _vec("vcmpeq", 8), X.X86_INS_PCMPEQW: _vec("vcmpeq", 16),
    X.X86_INS_PCMPEQD: _vec("vcmpeq", 32),
    X.X86_INS_PCMPGTB: _vec("vcmpgt", 8), X.X86_INS_PCMPGTW: _vec("vcmpgt", 16),
    X.X86_INS_PCMPGTD: _vec("vcmpgt", 32),
    # shifts
    X.X86_INS_PSLLW: _shift("vshl", 16), X.X86_INS_PSLLD: _shift("vshl", 32),
    X.X86_INS_PSLLQ: _shift("vshl", 64),
    X.X86_INS_PSRLW: _shift("vlshr", 16), X.X86_INS_PSRLD: _shift("vlshr", 32),
    X.X86_INS_PSRLQ: _shift("vlshr", 64),
    X.X86_INS_PSRAW: _shift("vashr", 16), X.X86_INS_PSRAD: _shift("vashr", 32),
    X.X86_INS_PSLLDQ: _byte_shift(left=True), X.X86_INS_PSRLDQ: _byte_shift(left=False),
    # shuffles, unpacks, packs
    X.X86_INS_PSHUFD: _binary_imm(_pshufd),
    X.X86_INS_PSHUFLW: _binary_imm(_pshuflw),
    X.X86_INS_PSHUFHW: _binary_imm(_pshufhw),
    X.X86_INS_SHUFPS: _binary_imm(_shufps),
    X.X86_INS_SHUFPD: _binary_imm(_shufpd),
    X.X86_INS_PUNPCKLBW: _unpack(8, high=False), X.X86_INS_PUNPCKHBW: _unpack(8, high=True),
    X.X86_INS_PUNPCKLWD: _unpack(16, high=False), X.X86_INS_PUNPCKHWD: _unpack(16, high=True),
    X.X86_INS_PUNPCKLDQ: _unpack(32, high=False), X.X86_INS_PUNPCKHDQ: _unpack(32, high=True),
    X.X86_INS_PUNPCKLQDQ: _unpack(64, high=False), X.X86_INS_PUNPCKHQDQ: _unpack(64, high=True),
    X.X86_INS_UNPCKLPS: _unpack(32, high=False), X.X86_INS_UNPCKHPS: _unpack(32, high=True),
    X.X86_INS_UNPCKLPD: _unpack(64, high=False), X.X86_INS_UNPCKHPD: _unpack(64, high=True),
    X.X86_INS_PACKSSWB: _vec("vpacks", 16), X.X86_INS_PACKSSDW: _vec("vpacks", 32),
    X.X86_INS_PACKUSWB: _vec("vpacku", 16),
}
