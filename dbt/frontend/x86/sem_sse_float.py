"""SSE/SSE2 floating point on XMM registers: arithmetic, square root, min/max, compares
(cmp*, ucomis/comis), and conversions between f32, f64 and signed integers.

Every lane is one IR float op on bit patterns (dbt/backend/softfloat.py defines them),
rounded per MXCSR.RC read at run time (cvtt* truncate), and ORs the exception flags it
raises (fexc) into MXCSR bits 0-5. Scalar forms (ss/sd) write the
low lane and keep the rest of the destination; packed sources (xmm/m128) must be 16-byte
aligned (#GP), scalar and 64-bit sources (m32/m64) need not be. Not modelled, as in
softfloat: DAZ/FTZ and unmasked exceptions (an unmasked exception sets its flag and
never traps). rcpps/rcpss/rsqrtps/rsqrtss are approximations whose bits differ
between CPU models: they raise UnsupportedInstruction rather than guess. The MMX
conversions (cvtpi2ps, cvtps2pi, ...) are not lifted.

Capstone 5 gives the predicate aliases of cmpps/cmppd/cmpss/cmpsd (cmpltsd, ...) the id
CMPPD + imm whatever the form: CMPPD CMPPS CMPSB CMPSD CMPSQ CMPSS CMPSW CMPXCHG16B
for imm 0-7 (capstone-engine/capstone#2195); imm >= 8 gives CMPPS/CMPPD/CMPSS/CMPSD.
`lift_cmp_float` reads the form and predicate from the bytes instead. This table holds
the ids no other family owns; the string-compare ids (CMPSB CMPSD CMPSQ CMPSW) must
forward their 0F C2 forms to it from sem_string.py.
"""
from capstone import x86_const as X

from dbt.frontend.x86.flags import pack_flags
from dbt.frontend.x86.sem_sse_move import load128, mem_address, merge, xmm_dest
from dbt.ir.ops import FLOAT_FORMATS, FLOAT_PREDICATES, Ty

RC_SHIFT = 13                   # MXCSR.RC is bits 13-14
TOWARD_ZERO = 3                 # the rounding control of cvtt*
NEAREST = 0                     # for exact conversions (any rc gives the same result)
CMP_OPCODE = (0x0F, 0xC2)
_CMP_FORMS = {0x00: ("f32", False), 0x66: ("f64", False), 0xF3: ("f32", True), 0xF2: ("f64", True)}


# -- helpers -----------------------------------------------------------------------------

def mxcsr_rc(ctx):
    """MXCSR.RC as the i64 rounding control of the float ops."""
    b = ctx.b
    return b.zext(b.and_(b.lshr(b.get("mxcsr", Ty.I32), RC_SHIFT), 3), Ty.I64)


def split(b, v, lane: int) -> list:
    """The `lane`-bit lanes of v, low lane first."""
    ty = Ty(lane)
    return [b.trunc(b.lshr(v, i * lane) if i else v, ty) for i in range(v.ty.value // lane)]


def join(b, lanes) -> object:
    """An i128 from lanes (low lane first); bits above the last lane are zero."""
    out = None
    for i, v in enumerate(lanes):
        wide = b.zext(v, Ty.I128)
        shift = i * v.ty.value
        wide = b.shl(wide, shift) if shift else wide
        out = wide if out is None else b.or_(out, wide)
    return out


def scalar_src(ctx, index: int, ty: Ty):
    """The low `ty` bits of an xmm operand, or `ty` bits of memory (any alignment)."""
    n = ctx.xmm_index(index)
    if n is not None:
        return ctx.b.trunc(ctx.get_xmm(n), ty)
    if ctx.op(index).type != X.X86_OP_MEM:
        raise ctx.unsupported("expected xmm or memory")
    return ctx.b.load(mem_address(ctx, index, aligned=False), ty)


def put_low(ctx, n: int, old, value) -> None:
    """xmm n = `old` with its low lane replaced by `value`."""
    b = ctx.b
    ctx.put_xmm(n, merge(b, old, b.zext(value, Ty.I128), value.ty.mask))


def _all_ones(b, cond, ty: Ty):
    return b.select(cond, b.const(ty, ty.mask), b.const(ty, 0))


# -- arithmetic: xmm = fn(xmm, xmm/mem) lane by lane; fn gives (lane result, its raiser) ----

def raise_flags(ctx, raisers: list) -> None:
    """MXCSR's sticky flags (bits 0-5) after the float ops of `raisers`, (result, signaling)
    pairs in instruction order (fexc)."""
    b = ctx.b
    mxcsr = b.get("mxcsr", Ty.I32)
    sticky = b.and_(mxcsr, 0x3F)
    for result, signaling in raisers:
        sticky = b.fexc(result, sticky, signaling)
    b.put("mxcsr", b.or_(b.and_(mxcsr, ~0x3F & 0xFFFFFFFF), sticky))


def _rounding(name: str):
    def fn(b, fmt, a, s, rc):
        r = b.fsqrt(fmt, s, rc) if name == "fsqrt" else b.fbinary(name, fmt, a, s, rc)
        return r, (r, False)
    fn.rounds = True
    return fn


def _minmax(name: str):
    def fn(b, fmt, a, s, rc):
        r = b.fmin(fmt, a, s) if name == "fmin" else b.fmax(fmt, a, s)
        return r, (r, True)
    return fn


def _compare(pred: str):
    """cmpXX: all-ones lanes; the predicates lt le nlt nle signal on a QNaN (IE), the others not."""
    def fn(b, fmt, a, s, rc):
        c = b.fcmp(pred, fmt, a, s)
        return _all_ones(b, c, FLOAT_FORMATS[fmt]), (c, pred in ("lt", "le", "nlt", "nle"))
    return fn


def _apply(ctx, fmt: str, scalar: bool, fn) -> None:
    """xmm0 = fn(xmm0, src) on the low lane (scalar) or on every lane (packed); flags raised."""
    b, n = ctx.b, xmm_dest(ctx, 0)
    ty = FLOAT_FORMATS[fmt]
    src = scalar_src(ctx, 1, ty) if scalar else load128(ctx, 1)
    old = ctx.get_xmm(n)
    rc = mxcsr_rc(ctx) if getattr(fn, "rounds", False) else None
    if scalar:
        r, flags = fn(b, fmt, b.trunc(old, ty), src, rc)
        put_low(ctx, n, old, r)
        raise_flags(ctx, [flags])
    else:
        lanes = [fn(b, fmt, a, s, rc) for a, s in zip(split(b, old, ty.value), split(b, src, ty.value))]
        ctx.put_xmm(n, join(b, [r for r, _ in lanes]))
        raise_flags(ctx, [f for _, f in lanes])


def _arith(fmt: str, scalar: bool, fn):
    def lift(ctx, insn):
        _apply(ctx, fmt, scalar, fn)
    return lift


def _family(name: str, fn) -> dict:
    """NAMEss, NAMEsd, NAMEps, NAMEpd."""
    return {getattr(X, f"X86_INS_{name}{suffix}"): _arith(fmt, scalar, fn)
            for suffix, fmt, scalar in (("SS", "f32", True), ("SD", "f64", True),
                                        ("PS", "f32", False), ("PD", "f64", False))}


def _cmp_form(insn) -> tuple[str, bool]:
    """(format, scalar) from the mandatory prefix of a 0F C2 instruction: the last F2/F3, else 66."""
    last_rep, opsize = 0, False
    for byte in insn.bytes:
        if byte == 0x0F:
            break
        if byte in (0xF2, 0xF3):
            last_rep = byte
        elif byte == 0x66:
            opsize = True
    return _CMP_FORMS[last_rep or (0x66 if opsize else 0x00)]


def lift_cmp_float(ctx, insn):
    """cmpps/cmppd/cmpss/cmpsd (and every capstone alias): all-ones lanes where imm8 & 7 holds.

    The predicate is the last byte of the encoding: capstone drops the immediate
    operand of the alias forms. Another instruction sharing one of the capstone
    ids (cmpxchg16b) is unsupported here.
    """
    if tuple(insn.opcode[:2]) != CMP_OPCODE:
        raise ctx.unsupported("not an SSE compare")
    fmt, scalar = _cmp_form(insn)
    _apply(ctx, fmt, scalar, _compare(FLOAT_PREDICATES[insn.bytes[-1] & 7]))


# -- compares into RFLAGS ------------------------------------------------------------------

def _compare_flags(fmt: str, signaling: bool):
    """ucomis/comis: unordered ZF=PF=CF=1, less CF=1, equal ZF=1; OF SF AF cleared. comis
    raises IE on a QNaN operand too, ucomis on an SNaN only."""
    ty = FLOAT_FORMATS[fmt]

    def lift(ctx, insn):
        b = ctx.b
        src = scalar_src(ctx, 1, ty)
        a = b.trunc(ctx.get_xmm(xmm_dest(ctx, 0)), ty)
        unordered = b.fcmp("unord", fmt, a, src)
        zf = b.or_(unordered, b.fcmp("eq", fmt, a, src))
        cf = b.or_(unordered, b.fcmp("lt", fmt, a, src))
        ctx.set_eflags(pack_flags(b, {"ZF": zf, "PF": unordered, "CF": cf}))
        raise_flags(ctx, [(unordered, signaling)])
    return lift


# -- conversions -----------------------------------------------------------------------------

def _from_int(fmt: str):
    """cvtsi2ss/cvtsi2sd: r32/r64/m32/m64 (signed) rounded into the low lane."""
    def lift(ctx, insn):
        b, n = ctx.b, xmm_dest(ctx, 0)
        value = ctx.load(1)
        old = ctx.get_xmm(n)
        r = b.fcvt_from_int(fmt, value, mxcsr_rc(ctx))
        put_low(ctx, n, old, r)
        raise_flags(ctx, [(r, False)])
    return lift


def _to_int(fmt: str, truncate: bool):
    """cvtss2si/cvtsd2si/cvttss2si/cvttsd2si into r32 (zero-extended) or r64."""
    def lift(ctx, insn):
        b = ctx.b
        value = scalar_src(ctx, 1, FLOAT_FORMATS[fmt])
        rc = b.const(Ty.I64, TOWARD_ZERO) if truncate else mxcsr_rc(ctx)
        r = b.fcvt_to_int(fmt, ctx.op(0).size * 8, value, rc)
        ctx.store(0, r)
        raise_flags(ctx, [(r, False)])
    return lift


def _scalar_convert(from_fmt: str, fmt: str, exact: bool):
    """cvtss2sd (exact) / cvtsd2ss (rounded): the low lane, the rest kept."""
    def lift(ctx, insn):
        b, n = ctx.b, xmm_dest(ctx, 0)
        value = scalar_src(ctx, 1, FLOAT_FORMATS[from_fmt])
        old = ctx.get_xmm(n)
        r = b.fcvt(from_fmt, fmt, value, NEAREST if exact else mxcsr_rc(ctx))
        put_low(ctx, n, old, r)
        raise_flags(ctx, [(r, False)])
    return lift


def _packed_convert(src_bits: int, lane: int, fn, rounds: bool):
    """xmm = fn(b, lane value, rc) of each `lane`-bit lane of the low `src_bits` of the source
    (xmm/m128 aligned, or xmm/m64 any alignment); lanes above the results are zeroed."""
    def lift(ctx, insn):
        b, n = ctx.b, xmm_dest(ctx, 0)
        src = load128(ctx, 1) if src_bits == 128 else scalar_src(ctx, 1, Ty(src_bits))
        rc = mxcsr_rc(ctx) if rounds else b.const(Ty.I64, NEAREST)
        results = [fn(b, x, rc) for x in split(b, src, lane)]
        ctx.put_xmm(n, join(b, results))
        raise_flags(ctx, [(r, False) for r in results])
    return lift


def _cvt(from_fmt, fmt):
    return lambda b, x, rc: b.fcvt(from_fmt, fmt, x, rc)


def _cvt_from_int(fmt):
    return lambda b, x, rc: b.fcvt_from_int(fmt, x, rc)


def _cvt_to_int(fmt, truncate: bool):
    if truncate:
        return lambda b, x, rc: b.fcvt_to_int(fmt, 32, x, TOWARD_ZERO)
    return lambda b, x, rc: b.fcvt_to_int(fmt, 32, x, rc)


def lift_approximation(ctx, insn):
    """rcpps/rcpss/rsqrtps/rsqrtss: results differ between CPU models; not guessed."""
    raise ctx.unsupported("approximate reciprocal: its bits are CPU-specific")


LIFTERS = {
    **_family("ADD", _rounding("fadd")), **_family("SUB", _rounding("fsub")),
    **_family("MUL", _rounding("fmul")), **_family("DIV", _rounding("fdiv")),
    **_family("SQRT", _rounding("fsqrt")), **_family("MIN", _minmax("fmin")), **_family("MAX", _minmax("fmax")),
    # 0F C2: capstone's ids for the compare aliases (the string-compare ids go through sem_string)
    X.X86_INS_CMPPD: lift_cmp_float, X.X86_INS_CMPPS: lift_cmp_float,
    X.X86_INS_CMPSS: lift_cmp_float, X.X86_INS_CMPXCHG16B: lift_cmp_float,
    X.X86_INS_UCOMISS: _compare_flags("f32", False), X.X86_INS_COMISS: _compare_flags("f32", True),
    X.X86_INS_UCOMISD: _compare_flags("f64", False), X.X86_INS_COMISD: _compare_flags("f64", True),
    X.X86_INS_CVTSI2SS: _from_int("f32"), X.X86_INS_CVTSI2SD: _from_int("f64"),
    X.X86_INS_CVTSS2SI: _to_int("f32", truncate=False), X.X86_INS_CVTSD2SI: _to_int("f64", truncate=False),
    X.X86_INS_CVTTSS2SI: _to_int("f32", truncate=True), X.X86_INS_CVTTSD2SI: _to_int("f64", truncate=True),
    X.X86_INS_CVTSS2SD: _scalar_convert("f32", "f64", exact=True),
    X.X86_INS_CVTSD2SS: _scalar_convert("f64", "f32", exact=False),
    X.X86_INS_CVTPS2PD: _packed_convert(64, 32, _cvt("f32", "f64"), rounds=False),
    X.X86_INS_CVTPD2PS: _packed_convert(128, 64, _cvt("f64", "f32"), rounds=True),
    X.X86_INS_CVTDQ2PS: _packed_convert(128, 32, _cvt_from_int("f32"), rounds=True),
    X.X86_INS_CVTDQ2PD: _packed_convert(64, 32, _cvt_from_int("f64"), rounds=False),
    X.X86_INS_CVTPS2DQ: _packed_convert(128, 32, _cvt_to_int("f32", truncate=False), rounds=True),
    X.X86_INS_CVTTPS2DQ: _packed_convert(128, 32, _cvt_to_int("f32", truncate=True), rounds=False),
    X.X86_INS_CVTPD2DQ: _packed_convert(128, 64, _cvt_to_int("f64", truncate=False), rounds=True),
    X.X86_INS_CVTTPD2DQ: _packed_convert(128, 64, _cvt_to_int("f64", truncate=True), rounds=False),
    X.X86_INS_RCPPS: lift_approximation, X.X86_INS_RCPSS: lift_approximation,
    X.X86_INS_RSQRTPS: lift_approximation, X.X86_INS_RSQRTSS: lift_approximation,
}
