"""x87 FPU lifters: the subset that long double code (printf %Lf, strtold) and libm use.

State (dbt/runtime/cpu.py): slots st0..st7 hold ST(0)..ST(7) in STACK order (an f80 in
the low 80 bits of an i128, upper bits zero), so a push rotates every slot down one and
a pop rotates up one; a register's contents survive its pop, as in the physical file.
fpu_top is TOP; fpu_tag is the full tag word of the PHYSICAL registers, kept as 00
(valid) or 11 (empty) only: fnstenv derives the zero/special classes from the contents,
as the CPU does. fpu_sw holds C0-C3 and the exception bits; its TOP field is ignored
(fnstsw merges fpu_top in). Arithmetic goes through the IR's f80 float ops under the
rounding control in fpu_cw; C1 reports "rounded up" (magnitude) as the CPU does.

Every op ORs the exception flags it raises (IR op fexc) into fpu_sw, with ES and B
following the control word's masks. Not modelled, by design: unmasked exceptions
(their flag is set, ES and B too, but nothing traps), stack overflow and underflow
(a read of an empty register returns its stale contents; the CPU would give the
indefinite QNaN; SF is never set), precision control other than 64 bits, and the
last-instruction pointers (fnstenv stores FIP/FDP/FOP as zeros).
fxtract, fscale, fprem and fprem1 (exact, in integers) are in sem_x87_exact.py; the
transcendentals (fsin fcos fsincos fptan fpatan f2xm1 fyl2x fyl2xp1) in
sem_x87_transcendental.py.
"""
from capstone import x86_const as X

from dbt.frontend.x86.flags import FLAG_BIT
from dbt.ir.ops import Ty

I16, I32, I64, I128 = Ty.I16, Ty.I32, Ty.I64, Ty.I128
F80_MASK = (1 << 80) - 1
SIGN80 = 1 << 79
INT_BIT = 1 << 63
QUIET80 = 1 << 62
ONE80 = 0x3FFF8000000000000000
INF80 = 0x7FFF8000000000000000
DEFAULT_NAN80 = 0xFFFFC000000000000000
C_POS = {"c0": 8, "c1": 9, "c2": 10, "c3": 14}
EXCEPTION_BITS = 0x80FF               # IE DE ZE OE UE PE SF ES, and B
CW_WRITABLE, CW_FIXED = 0x1F3F, 0x0040   # fldcw/fldenv/fxrstor keep these bits / set bit 6
TOWARD_ZERO = 3


# -- state -------------------------------------------------------------------------------------
def st(ctx, i: int):
    return ctx.b.get(f"st{i}", I128)


def set_st(ctx, i: int, value) -> None:
    ctx.b.put(f"st{i}", value)


def rounding(ctx):
    """RC (fpu_cw bits 10-11) as the i64 the float ops take."""
    b = ctx.b
    return b.zext(b.and_(b.lshr(b.get("fpu_cw", I16), 10), 3), I64)


def set_c(ctx, **bits) -> None:
    """Condition codes c0..c3 := i1 values (or 0/1); the others keep their value."""
    b = ctx.b
    mask, new = 0, b.const(I16, 0)
    for name, v in bits.items():
        pos = C_POS[name]
        mask |= 1 << pos
        bit = b.const(I16, (v & 1) << pos) if isinstance(v, int) else b.shl(b.zext(v, I16), pos)
        new = b.or_(new, bit)
    b.put("fpu_sw", b.or_(b.and_(b.get("fpu_sw", I16), ~mask & 0xFFFF), new))


def status_word(ctx):
    """fpu_sw with TOP (fpu_top) in bits 11-13."""
    b = ctx.b
    sw = b.and_(b.get("fpu_sw", I16), ~0x3800 & 0xFFFF)
    return b.or_(sw, b.shl(b.and_(b.get("fpu_top", I16), 7), 11))


def with_summary(ctx, sw, cw):
    """sw with ES (bit 7) and B (bit 15) recomputed: set when an unmasked exception is pending."""
    b = ctx.b
    pending = b.ne(b.and_(b.and_(sw, b.not_(cw)), 0x3F), 0)
    return b.or_(b.and_(sw, 0x7F7F), b.mul(b.zext(pending, I16), 0x8080))


def raise_flags(ctx, flags: list) -> None:
    """OR exception flags (i32 values, IE..PE: dbt.ir fexc) into the status word; ES and B
    follow (set only when a flag is unmasked in the control word: such an exception would trap,
    which is not modelled)."""
    b = ctx.b
    flags = [f for f in flags if f is not None]
    if not flags:
        return
    total = flags[0]
    for f in flags[1:]:
        total = b.or_(total, f)
    sw = b.or_(b.get("fpu_sw", I16), b.trunc(total, I16))
    b.put("fpu_sw", with_summary(ctx, sw, b.get("fpu_cw", I16)))


def fexc(ctx, result, signaling: bool = False, sticky=None):
    """The status word's flags (i32) after the float op that gave `result` (IR op fexc): those
    of `sticky` (by default the status word's own) and those the op raises."""
    b = ctx.b
    if sticky is None:
        sticky = b.zext(b.and_(b.get("fpu_sw", I16), 0x3F), I32)
    return b.fexc(result, sticky, signaling)


def merge_load_flags(ctx, op_flags, load_flags, decided):
    """The flags of an op on ST(0) and a memory real: the load's IE, and its DE (a denormal
    m32/m64) unless `decided` (i1: a NaN operand, an invalid operation or a division by zero
    decided the result), as the CPU reports them."""
    if load_flags is None:
        return op_flags
    b = ctx.b
    load = b.and_(load_flags, b.select(decided, b.const(I32, 0x1), b.const(I32, 0x3)))
    return b.or_(op_flags, load)


def control_word(ctx, value):
    """A control word as fldcw/fldenv/fxrstor load it."""
    return ctx.b.or_(ctx.b.and_(value, CW_WRITABLE), CW_FIXED)


def _physical(ctx, i: int):
    """The physical register number of ST(i): (TOP + i) mod 8, as an i16."""
    b = ctx.b
    return b.and_(b.add(b.get("fpu_top", I16), i), 7)


def _tag(ctx, phys, empty: bool) -> None:
    b = ctx.b
    bits = b.shl(b.const(I16, 3), b.shl(phys, 1))
    tag = b.get("fpu_tag", I16)
    b.put("fpu_tag", b.or_(tag, bits) if empty else b.and_(tag, b.not_(bits)))


def _is_empty(ctx, i: int):
    b = ctx.b
    return b.eq(b.and_(b.lshr(b.get("fpu_tag", I16), b.shl(_physical(ctx, i), 1)), 3), 3)


def _rotate(ctx, k: int) -> None:
    """New ST(i) = old ST((i + k) mod 8): the stack-order view after TOP moves by k."""
    old = [st(ctx, i) for i in range(8)]
    for i in range(8):
        set_st(ctx, i, old[(i + k) % 8])


def rotate_by(ctx, amount) -> None:
    """_rotate by a run-time amount (i16, 0-7): three stages of a barrel shifter."""
    b = ctx.b
    regs = [st(ctx, i) for i in range(8)]
    for step in (1, 2, 4):
        on = b.ne(b.and_(amount, step), 0)
        regs = [b.select(on, regs[(i + step) % 8], regs[i]) for i in range(8)]
    for i in range(8):
        set_st(ctx, i, regs[i])


def push(ctx, value) -> None:
    b = ctx.b
    _rotate(ctx, 7)
    set_st(ctx, 0, value)
    top = b.and_(b.sub(b.get("fpu_top", I16), 1), 7)
    b.put("fpu_top", top)
    _tag(ctx, top, empty=False)


def push_unless(ctx, cond, st0, st1) -> None:
    """fptan/fsincos: unless cond (i1, C2: operand out of range), ST0 := st1 and push st0; the
    stack is unchanged when cond holds."""
    b = ctx.b
    old = [st(ctx, i) for i in range(8)]
    pushed = [st0, st1] + old[1:7]
    for i in range(8):
        set_st(ctx, i, b.select(cond, old[i], pushed[i]))
    top = b.get("fpu_top", I16)
    new_top = b.and_(b.sub(top, 1), 7)
    tag = b.get("fpu_tag", I16)
    valid = b.and_(tag, b.not_(b.shl(b.const(I16, 3), b.shl(new_top, 1))))
    b.put("fpu_top", b.select(cond, top, new_top))
    b.put("fpu_tag", b.select(cond, tag, valid))


def pop(ctx) -> None:
    b = ctx.b
    top = b.get("fpu_top", I16)
    _tag(ctx, top, empty=True)
    _rotate(ctx, 1)
    b.put("fpu_top", b.and_(b.add(top, 1), 7))


# -- f80 values --------------------------------------------------------------------------------
def load80(ctx, addr):
    b = ctx.b
    lo = b.zext(b.load(addr, I64), I128)
    return b.or_(b.shl(b.zext(b.load(b.add(addr, 8), I16), I128), 64), lo)


def store80(ctx, addr, value) -> None:
    """Ten bytes; the high part first, so a store that crosses into a bad page writes nothing."""
    b = ctx.b
    b.store(b.add(addr, 8), b.trunc(b.lshr(value, 64), I16))
    b.store(addr, b.trunc(value, I64))


def fields(b, x):
    """(biased exponent as i32, significand as i64, sign as i1) of an f80."""
    return (b.zext(b.and_(b.trunc(b.lshr(x, 64), I16), 0x7FFF), I32), b.trunc(x, I64),
            b.bit(x, 79))


def normalized(b, exp, sig):
    """(unbiased exponent of the leading bit, significand shifted to bit 63) of a finite
    non-zero f80; denormals and pseudo-denormals are normalized."""
    lz = b.trunc(b.ctlz(sig), I32)
    denormal = b.eq(exp, 0)
    e = b.select(denormal, b.sub(b.const(I32, -16382), lz), b.sub(exp, 16383))
    return e, b.select(denormal, b.shl(sig, b.zext(lz, I64)), sig)


def classes(b, x) -> dict:
    """i1 class predicates of an f80, as fxam sees them (unsupported: unnormals, pseudo-NaN/inf)."""
    exp, sig, _ = fields(b, x)
    has_int = b.msb(sig)
    zero_exp, max_exp = b.eq(exp, 0), b.eq(exp, 0x7FFF)
    frac_zero = b.eq(b.shl(sig, 1), 0)
    return {"zero": b.and_(zero_exp, b.eq(sig, 0)),
            "denormal": b.and_(zero_exp, b.ne(sig, 0)),
            "unsupported": b.and_(b.not_(zero_exp), b.not_(has_int)),
            "inf": b.and_(b.and_(max_exp, has_int), frac_zero),
            "nan": b.and_(b.and_(max_exp, has_int), b.not_(frac_zero)),
            "normal": b.and_(b.and_(b.not_(zero_exp), b.not_(max_exp)), has_int)}


def rounded(ctx, make, rc=None):
    """(make(rc), C1): C1 = 1 when rounding increased the magnitude (the magnitude differs
    from the same op's rounded toward zero; an exact zero's sign may depend on RC)."""
    b = ctx.b
    r, rt = make(rounding(ctx) if rc is None else rc), make(b.const(I64, TOWARD_ZERO))
    if r.ty == I128:
        return r, b.ne(b.and_(b.xor(r, rt), ~SIGN80 & I128.mask), 0)
    return r, b.ne(b.shl(r, 1), b.shl(rt, 1))


def _memory_float(ctx, index: int, keep_snan: bool):
    """(value, flags): an m32/m64 real operand widened to f80 (exact), and the flags its load
    raises (IE for an SNaN, DE for a denormal). With keep_snan, an SNaN stays signalling (the
    x87 picks a QNaN operand over it), as arithmetic sees it."""
    b = ctx.b
    size = ctx.op(index).size
    fmt, ty, frac_bits, exp_bits = {4: ("f32", I32, 23, 8), 8: ("f64", I64, 52, 11)}[size]
    raw = b.load(ctx.address(ctx.op(index)), ty)
    value = b.fcvt(fmt, "f80", raw, 0)
    if keep_snan:
        exp_mask = ((1 << exp_bits) - 1) << frac_bits
        snan = b.and_(b.eq(b.and_(raw, exp_mask), exp_mask),
                      b.and_(b.eq(b.and_(raw, 1 << (frac_bits - 1)), 0),
                             b.ne(b.and_(raw, (1 << (frac_bits - 1)) - 1), 0)))
        flags = fexc(ctx, value)
        value = b.select(snan, b.and_(value, ~QUIET80 & I128.mask), value)
        return value, flags
    return value, fexc(ctx, value)


def _memory_int(ctx, index: int):
    """An m16/m32/m64 integer operand as an f80 (exact)."""
    b = ctx.b
    v = ctx.load(index)
    return b.fcvt_from_int("f80", b.sext(v, I32) if v.ty == I16 else v, 0)


def _register(ctx, insn) -> int:
    """i of an ST(i) operand, from ModRM (capstone's operand lists differ between forms)."""
    return insn.modrm & 7


def _source(ctx, insn, integer: bool, keep_snan: bool = False):
    """(the second operand of a compare or arithmetic op: ST(i), m32/m64 real or m16/m32 int,
    the flags its load raises or None)."""
    if insn.operands and ctx.op(0).type == X.X86_OP_MEM:
        return (_memory_int(ctx, 0), None) if integer else _memory_float(ctx, 0, keep_snan)
    return st(ctx, _register(ctx, insn) if insn.operands else 1), None


# -- loads and stores --------------------------------------------------------------------------
def lift_fld(ctx, insn):
    op, flags = ctx.op(0), None
    if op.type == X.X86_OP_MEM and op.size != 10:
        value, flags = _memory_float(ctx, 0, False)
    elif op.type == X.X86_OP_MEM:
        value = load80(ctx, ctx.address(op))
    else:
        value = st(ctx, _register(ctx, insn))
    push(ctx, value)
    set_c(ctx, c1=0)
    raise_flags(ctx, [flags])


def lift_fild(ctx, insn):
    push(ctx, _memory_int(ctx, 0))
    set_c(ctx, c1=0)


def _fst(do_pop: bool):
    def lift(ctx, insn):
        b, op = ctx.b, ctx.op(0)
        c1 = 0
        if op.type == X.X86_OP_REG:
            i = _register(ctx, insn)
            set_st(ctx, i, st(ctx, 0))
            _tag(ctx, _physical(ctx, i), empty=False)
        elif op.size == 10:
            store80(ctx, ctx.address(op), st(ctx, 0))
        else:
            fmt, x = {4: "f32", 8: "f64"}[op.size], st(ctx, 0)
            r, c1 = rounded(ctx, lambda rc: b.fcvt("f80", fmt, x, rc))
            b.store(ctx.address(op), r)
            raise_flags(ctx, [fexc(ctx, r)])
        set_c(ctx, c1=c1)
        if do_pop:
            pop(ctx)
    return lift


def _to_int(ctx, value, size: int, rc):
    """(fist's integer, the flags after it): m16 converts to 32 bits and saturates to the
    16-bit indefinite (IE alone)."""
    b = ctx.b
    r = b.fcvt_to_int("f80", 64 if size == 8 else 32, value, rc)
    if size != 2:
        return r, fexc(ctx, r)
    low = b.trunc(r, I16)
    fits = b.eq(b.sext(low, I32), r)
    sticky = b.zext(b.and_(b.get("fpu_sw", I16), 0x3F), I32)
    return b.select(fits, low, b.const(I16, 0x8000)), b.select(fits, fexc(ctx, r), b.or_(sticky, 1))


def _fist(do_pop: bool, truncate: bool):
    def lift(ctx, insn):
        b, op = ctx.b, ctx.op(0)
        value = st(ctx, 0)
        r, flags = _to_int(ctx, value, op.size, b.const(I64, TOWARD_ZERO) if truncate else rounding(ctx))
        if truncate:
            c1 = 0
        else:                    # rounded up, unless the result is the indefinite of an invalid
            rt, _ = _to_int(ctx, value, op.size, b.const(I64, TOWARD_ZERO))
            low = 1 << (r.ty.value - 1)
            c1 = b.and_(b.ne(r, rt), b.or_(b.ne(r, low), b.eq(rt, low + 1)))
        b.store(ctx.address(op), r)
        set_c(ctx, c1=c1)
        raise_flags(ctx, [flags])
        if do_pop:
            pop(ctx)
    return lift


# Constants rounded toward zero, and whether round-to-nearest rounds them up (host-checked).
CONSTANTS = {X.X86_INS_FLDPI: (0x4000C90FDAA22168C234, 1), X.X86_INS_FLDL2E: (0x3FFFB8AA3B295C17F0BB, 1),
             X.X86_INS_FLDL2T: (0x4000D49A784BCD1B8AFE, 0), X.X86_INS_FLDLG2: (0x3FFD9A209A84FBCFF798, 1),
             X.X86_INS_FLDLN2: (0x3FFEB17217F7D1CF79AB, 1)}


def lift_fld_constant(ctx, insn):
    """fldpi & co: the exact constant rounded per RC (C1 stays 0 even when rounded up)."""
    b = ctx.b
    base, nearest_up = CONSTANTS[insn.id]
    up = b.and_(b.lshr(b.const(I64, nearest_up | 0b0100), rounding(ctx)), 1)   # per RC 0..3
    push(ctx, b.add(b.const(I128, base), b.zext(up, I128)))
    set_c(ctx, c1=0)


def _fld_exact(value: int):
    def lift(ctx, insn):
        push(ctx, ctx.b.const(I128, value))
        set_c(ctx, c1=0)
    return lift


def lift_fxch(ctx, insn):
    i = _register(ctx, insn)
    a, c = st(ctx, 0), st(ctx, i)
    set_st(ctx, 0, c)
    set_st(ctx, i, a)
    set_c(ctx, c1=0)


def _fcmov(code: int):
    def lift(ctx, insn):
        b = ctx.b
        set_st(ctx, 0, b.select(ctx.cond(code), st(ctx, _register(ctx, insn)), st(ctx, 0)))
    return lift


# -- arithmetic --------------------------------------------------------------------------------
# ModRM reg field -> (op, reversed) for the D8 and memory forms; DC/DE register forms
# (destination ST(i)) swap the reversal of the sub/div pairs, as Intel encodes them.
ARITH = {0: ("fadd", False), 1: ("fmul", False), 4: ("fsub", False), 5: ("fsub", True),
         6: ("fdiv", False), 7: ("fdiv", True)}


def lift_arith(ctx, insn):
    """fadd fsub fsubr fmul fdiv fdivr, their p forms and fi forms: decoded from the bytes."""
    b = ctx.b
    opcode, modrm = insn.opcode[0], insn.modrm
    name, reverse = ARITH[(modrm >> 3) & 7]
    dest, load_flags = 0, None
    if modrm >= 0xC0:
        i = modrm & 7
        if opcode in (0xDC, 0xDE):
            dest, reverse = i, reverse ^ (name in ("fsub", "fdiv"))
            other = st(ctx, 0)
        else:
            other = st(ctx, i)
    else:
        other, load_flags = _source(ctx, insn, integer=opcode in (0xDA, 0xDE), keep_snan=True)
    mine = st(ctx, dest)
    x, y = (other, mine) if reverse else (mine, other)
    r, c1 = rounded(ctx, lambda rc: b.fbinary(name, "f80", x, y, rc))
    set_st(ctx, dest, r)
    set_c(ctx, c1=c1)
    decided = b.or_(b.fcmp("unord", "f80", x, y), b.fcmp("unord", "f80", r, r))   # NaN in or out
    if name == "fdiv":
        decided = b.or_(decided, b.eq(b.and_(y, ~SIGN80 & I128.mask), 0))           # x / 0
    raise_flags(ctx, [merge_load_flags(ctx, fexc(ctx, r), load_flags, decided)])
    if opcode == 0xDE and modrm >= 0xC0:
        pop(ctx)


def _sign_op(op: str):
    """fchs/fabs: the sign bit only, for every encoding."""
    def lift(ctx, insn):
        b = ctx.b
        x = st(ctx, 0)
        set_st(ctx, 0, b.xor(x, SIGN80) if op == "chs" else b.and_(x, ~SIGN80 & I128.mask))
        set_c(ctx, c1=0)
    return lift


def rounded_unary(method: str):
    """fsqrt / frndint: ST(0) = op(ST(0)) under the control word's rounding, C1 and flags set."""
    def lift(ctx, insn):
        b, x = ctx.b, st(ctx, 0)
        r, c1 = rounded(ctx, lambda rc: getattr(b, method)("f80", x, rc))
        set_st(ctx, 0, r)
        set_c(ctx, c1=c1)
        raise_flags(ctx, [fexc(ctx, r)])
    return lift


lift_fsqrt, lift_frndint = rounded_unary("fsqrt"), rounded_unary("fround")


# -- comparisons -------------------------------------------------------------------------------
def _compare(b, a, c) -> tuple:
    """(less, equal, unordered) as i1."""
    unordered = b.fcmp("unord", "f80", a, c)
    return b.fcmp("lt", "f80", a, c), b.fcmp("eq", "f80", a, c), unordered


def _set_compare(ctx, a, c, signaling: bool, load_flags=None) -> None:
    b = ctx.b
    lt, eq, un = _compare(b, a, c)
    set_c(ctx, c0=b.or_(lt, un), c2=un, c3=b.or_(eq, un), c1=0)
    raise_flags(ctx, [merge_load_flags(ctx, fexc(ctx, un, signaling), load_flags, un)])


def _fcom(pops: int, signaling: bool):
    """fcom/fucom (+p, pp) and ficom(p): C3 C2 C0 = 000 >, 001 <, 100 =, 111 unordered;
    fcom and ficom raise IE on a QNaN too, fucom on an SNaN only."""
    def lift(ctx, insn):
        integer = insn.opcode[0] in (0xDA, 0xDE) and insn.modrm < 0xC0
        other, load_flags = _source(ctx, insn, integer)
        _set_compare(ctx, st(ctx, 0), other, signaling, load_flags)
        for _ in range(pops):
            pop(ctx)
    return lift


def _fcomi(do_pop: bool, signaling: bool):
    """fcomi/fucomi (+p): ZF PF CF as ucomisd sets them (and IE as comisd/ucomisd raise it);
    C1 is left as the CPU leaves it."""
    def lift(ctx, insn):
        b = ctx.b
        lt, eq, un = _compare(b, st(ctx, 0), st(ctx, _register(ctx, insn)))
        raise_flags(ctx, [fexc(ctx, un, signaling)])
        bits = {"ZF": b.or_(eq, un), "PF": un, "CF": b.or_(lt, un)}
        flags = b.const(I64, 0)
        for name, v in bits.items():
            flags = b.or_(flags, b.shl(b.zext(v, I64), FLAG_BIT[name]))
        ctx.set_eflags(flags)
        if do_pop:
            pop(ctx)
    return lift


def lift_ftst(ctx, insn):
    _set_compare(ctx, st(ctx, 0), ctx.b.const(I128, 0), signaling=True)


def lift_fxam(ctx, insn):
    """C3 C2 C0: 000 unsupported, 001 NaN, 010 normal, 011 infinity, 100 zero, 101 empty,
    110 denormal; C1 = the sign bit (of the stale contents too, for an empty register)."""
    b = ctx.b
    x = st(ctx, 0)
    c = classes(b, x)
    empty = _is_empty(ctx, 0)
    c2 = b.and_(b.not_(empty), b.or_(b.or_(c["normal"], c["inf"]), c["denormal"]))
    set_c(ctx, c0=b.or_(empty, b.or_(c["nan"], c["inf"])), c2=c2,
          c3=b.or_(empty, b.or_(c["zero"], c["denormal"])), c1=b.bit(x, 79))


# -- control and environment -------------------------------------------------------------------
def lift_fldcw(ctx, insn):
    ctx.b.put("fpu_cw", control_word(ctx, ctx.load(0)))


def lift_fnstcw(ctx, insn):
    ctx.store(0, ctx.b.get("fpu_cw", I16))


def lift_fnstsw(ctx, insn):
    ctx.store(0, status_word(ctx))


def lift_fninit(ctx, insn):
    """Default control word, empty tags, TOP 0; the registers keep their contents."""
    b = ctx.b
    rotate_by(ctx, b.and_(b.neg(b.get("fpu_top", I16)), 7))
    b.put("fpu_cw", b.const(I16, 0x037F))
    b.put("fpu_sw", b.const(I16, 0))
    b.put("fpu_tag", b.const(I16, 0xFFFF))
    b.put("fpu_top", b.const(I16, 0))


def lift_fnclex(ctx, insn):
    b = ctx.b
    b.put("fpu_sw", b.and_(b.get("fpu_sw", I16), ~EXCEPTION_BITS & 0xFFFF))


def lift_nop(ctx, insn):
    """fwait/wait (no pending exceptions exist to wait for), fnop, and the 8087 leftovers
    feni/fdisi/fsetpm that every x87 since the 387 ignores."""


def _ffree(do_pop: bool):
    """ffree/ffreep: tag ST(i) empty; C1 is cleared (the SDM leaves C0-C3 undefined: the
    host clears C1 and keeps the others)."""
    def lift(ctx, insn):
        _tag(ctx, _physical(ctx, _register(ctx, insn)), empty=True)
        set_c(ctx, c1=0)
        if do_pop:
            pop(ctx)
    return lift


def _move_top(step: int):
    """fincstp (+1) / fdecstp (-1): TOP moves, tags and contents stay."""
    def lift(ctx, insn):
        b = ctx.b
        _rotate(ctx, step % 8)
        b.put("fpu_top", b.and_(b.add(b.get("fpu_top", I16), step & 0xFFFF), 7))
        set_c(ctx, c1=0)
    return lift


def tag_word(ctx):
    """The full tag word as fnstenv reports it: 11 empty, else 01 zero, 10 special, 00 valid."""
    b = ctx.b
    stack = b.const(I16, 0)
    for i in range(8):
        c = classes(b, st(ctx, i))
        special = b.or_(b.or_(c["denormal"], c["unsupported"]), b.or_(c["inf"], c["nan"]))
        code = b.or_(b.zext(c["zero"], I16), b.shl(b.zext(special, I16), 1))
        stack = b.or_(stack, b.shl(code, 2 * i))
    physical = b.rotl(stack, b.shl(b.get("fpu_top", I16), 1))
    return b.or_(physical, b.get("fpu_tag", I16))            # empty pairs are 11 there


def normalized_tags(ctx, tag):
    """A loaded full tag word kept as 00 (valid: any of 00/01/10) or 11 (empty) per register."""
    b = ctx.b
    out = b.const(I16, 0)
    for i in range(8):
        empty = b.eq(b.and_(tag, 3 << (2 * i)), 3 << (2 * i))
        out = b.or_(out, b.shl(b.mul(b.zext(empty, I16), 3), 2 * i))
    return out


def _env_checked(ctx, insn):
    if 0x66 in insn.prefix:
        raise ctx.unsupported("16-bit x87 environment format")
    return ctx.address(ctx.op(0))


def lift_fnstenv(ctx, insn):
    """28-byte protected-mode environment: FCW FSW FTW, zero pointers, then mask all
    exceptions (as the CPU does). Reserved halves read 0xFFFF, as the CPU writes them."""
    b = ctx.b
    addr = _env_checked(ctx, insn)
    words = [b.get("fpu_cw", I16), status_word(ctx), tag_word(ctx)]
    b.store(b.add(addr, 24), b.const(I32, 0xFFFF0000))
    b.store(b.add(addr, 16), b.const(I64, 0))
    b.store(b.add(addr, 12), b.const(I32, 0))
    for k in (2, 1, 0):
        b.store(b.add(addr, 4 * k), b.or_(b.zext(words[k], I32), 0xFFFF0000))
    b.put("fpu_cw", b.or_(words[0], 0x3F))


def lift_fldenv(ctx, insn):
    b = ctx.b
    addr = _env_checked(ctx, insn)
    cw = control_word(ctx, b.load(addr, I16))
    sw = b.load(b.add(addr, 4), I16)
    tag = b.load(b.add(addr, 8), I16)
    top = b.and_(b.lshr(sw, 11), 7)
    rotate_by(ctx, b.and_(b.sub(top, b.get("fpu_top", I16)), 7))
    b.put("fpu_cw", cw)
    b.put("fpu_sw", with_summary(ctx, sw, cw))
    b.put("fpu_tag", normalized_tags(ctx, tag))
    b.put("fpu_top", top)


ENV_BYTES = 28                      # the protected-mode environment; fnsave's registers follow


def lift_fnsave(ctx, insn):
    """108 bytes: fnstenv's environment, then ST0-ST7 (10 bytes each, in stack order); then
    fninit, as the CPU does."""
    b = ctx.b
    addr = _env_checked(ctx, insn)
    for i in reversed(range(8)):
        store80(ctx, b.add(addr, ENV_BYTES + 10 * i), st(ctx, i))
    lift_fnstenv(ctx, insn)
    lift_fninit(ctx, insn)


def lift_frstor(ctx, insn):
    """fnsave's image back: the environment (fldenv) and ST0-ST7 in the new stack order."""
    b = ctx.b
    addr = _env_checked(ctx, insn)
    values = [load80(ctx, b.add(addr, ENV_BYTES + 10 * i)) for i in range(8)]
    lift_fldenv(ctx, insn)
    for i, value in enumerate(values):
        set_st(ctx, i, value)


LIFTERS = {
    X.X86_INS_FLD: lift_fld,
    X.X86_INS_FILD: lift_fild,
    X.X86_INS_FST: _fst(False),
    X.X86_INS_FSTP: _fst(True),
    X.X86_INS_FSTPNCE: _fst(True),
    X.X86_INS_FIST: _fist(False, False),
    X.X86_INS_FISTP: _fist(True, False),
    X.X86_INS_FISTTP: _fist(True, True),
    X.X86_INS_FLDZ: _fld_exact(0),
    X.X86_INS_FLD1: _fld_exact(ONE80),
    **{ins: lift_fld_constant for ins in CONSTANTS},
    X.X86_INS_FXCH: lift_fxch,
    **{ins: lift_arith for ins in (
        X.X86_INS_FADD, X.X86_INS_FIADD, X.X86_INS_FMUL, X.X86_INS_FMULP, X.X86_INS_FIMUL,
        X.X86_INS_FSUB, X.X86_INS_FSUBP, X.X86_INS_FSUBR, X.X86_INS_FSUBRP, X.X86_INS_FISUB,
        X.X86_INS_FISUBR, X.X86_INS_FDIV, X.X86_INS_FDIVP, X.X86_INS_FDIVR, X.X86_INS_FDIVRP,
        X.X86_INS_FIDIV, X.X86_INS_FIDIVR)},
    X.X86_INS_FCHS: _sign_op("chs"),
    X.X86_INS_FABS: _sign_op("abs"),
    X.X86_INS_FSQRT: lift_fsqrt,
    X.X86_INS_FRNDINT: lift_frndint,
    X.X86_INS_FCOM: _fcom(0, True),
    X.X86_INS_FCOMP: _fcom(1, True),
    X.X86_INS_FCOMPP: _fcom(2, True),
    X.X86_INS_FUCOM: _fcom(0, False),
    X.X86_INS_FUCOMP: _fcom(1, False),
    X.X86_INS_FUCOMPP: _fcom(2, False),
    X.X86_INS_FICOM: _fcom(0, True),
    X.X86_INS_FICOMP: _fcom(1, True),
    X.X86_INS_FCOMI: _fcomi(False, True),
    X.X86_INS_FCOMPI: _fcomi(True, True),
    X.X86_INS_FUCOMI: _fcomi(False, False),
    X.X86_INS_FUCOMPI: _fcomi(True, False),
    X.X86_INS_FTST: lift_ftst,
    X.X86_INS_FXAM: lift_fxam,
    X.X86_INS_FLDCW: lift_fldcw,
    X.X86_INS_FNSTCW: lift_fnstcw,
    X.X86_INS_FNSTSW: lift_fnstsw,
    X.X86_INS_FNINIT: lift_fninit,
    X.X86_INS_FNCLEX: lift_fnclex,
    X.X86_INS_WAIT: lift_nop,
    X.X86_INS_FNOP: lift_nop,
    X.X86_INS_FENI8087_NOP: lift_nop,
    X.X86_INS_FDISI8087_NOP: lift_nop,
    X.X86_INS_FSETPM: lift_nop,
    X.X86_INS_FFREE: _ffree(False),
    X.X86_INS_FFREEP: _ffree(True),
    X.X86_INS_FDECSTP: _move_top(-1),
    X.X86_INS_FINCSTP: _move_top(1),
    X.X86_INS_FNSTENV: lift_fnstenv,
    X.X86_INS_FLDENV: lift_fldenv,
    X.X86_INS_FNSAVE: lift_fnsave,
    X.X86_INS_FRSTOR: lift_frstor,
    X.X86_INS_FCMOVB: _fcmov(2),
    X.X86_INS_FCMOVNB: _fcmov(3),
    X.X86_INS_FCMOVE: _fcmov(4),
    X.X86_INS_FCMOVNE: _fcmov(5),
    X.X86_INS_FCMOVBE: _fcmov(6),
    X.X86_INS_FCMOVNBE: _fcmov(7),
    X.X86_INS_FCMOVU: _fcmov(10),
    X.X86_INS_FCMOVNU: _fcmov(11),
    X.X86_INS_FCMOVNP: _fcmov(11),
}
