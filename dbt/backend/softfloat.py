"""x86 floating point on integer bit patterns: the reference semantics of the IR's float ops.

Values are raw encodings: f32 in an i32, f64 in an i64, f80 (x87 extended) in
the low 80 bits of an i128. Every result is computed exactly on integers
(significand * 2**exponent) and rounded once, per the x86 rounding control rc
(0 nearest-even, 1 down, 2 up, 3 toward zero; only rc & 3 is read), with
subnormals, signed zeros, infinities and x86's NaN rules: SSE's for f32/f64
(the first NaN operand, quieted; default NaN with the sign bit set), the
x87's for f80 (a QNaN beats an SNaN, else the larger significand, else the
positive one; unsupported encodings give the default NaN).

Every operation also yields its exception flags (`exceptions`), in the bit
order MXCSR and the x87 status word share: IE DE ZE OE UE PE (bits 0-5), as the
host raises them with every exception masked: underflow is tininess after
rounding and inexact, an overflow is also inexact, a denormal operand raises DE
unless a NaN or an invalid operation decides the result. Not modelled, by
design: DAZ/FTZ (taken as off), unmasked exceptions (all taken as masked) and
x87 precision control (taken as 64 bits). The x87 transcendentals (IR op
ftrans) have no reference but the CPU: host_x87.py runs the host's instruction. f80 unnormals,
pseudo-NaNs and pseudo-infinities are invalid operands (default NaN, or
unordered in a compare), as on every x87 since the 387; pseudo-denormals are
valued as denormals, as the x87 does. tests/oracle/test_float_host.py checks
this module against the host CPU.
"""
from fractions import Fraction
from math import isqrt

from dbt.backend import host_x87

NEAREST, DOWN, UP, TOWARD_ZERO = 0, 1, 2, 3          # x86 rounding control (MXCSR.RC, x87 CW.RC)
ZERO, FINITE, INF, NAN, UNSUPPORTED = range(5)
INDEFINITE = {32: 0x80000000, 64: 0x8000000000000000}
IE, DE, ZE, OE, UE, PE = 1, 2, 4, 8, 16, 32           # exception flags (MXCSR and x87 SW bits 0-5)


class Format:
    """One binary interchange layout: exponent and fraction widths, explicit integer bit or not."""

    def __init__(self, name: str, exp_bits: int, frac_bits: int, explicit: bool):
        self.name, self.exp_bits, self.frac_bits, self.explicit = name, exp_bits, frac_bits, explicit
        self.sig_bits = frac_bits + explicit          # bits below the exponent field
        self.width = 1 + exp_bits + self.sig_bits
        self.precision = frac_bits + 1
        self.bias = (1 << (exp_bits - 1)) - 1
        self.emask = (1 << exp_bits) - 1
        self.emin = 1 - self.bias                     # exponent of the smallest normal
        self.qmin = self.emin - frac_bits             # exponent of the least significant bit
        self.sign_bit = 1 << (self.width - 1)
        self.frac_mask = (1 << frac_bits) - 1
        self.int_bit = (1 << frac_bits) if explicit else 0
        self.quiet_bit = 1 << (frac_bits - 1)
        self.inf = (self.emask << self.sig_bits) | self.int_bit
        self.max_finite = ((self.emask - 1) << self.sig_bits) | self.int_bit | self.frac_mask
        self.default_nan = self.sign_bit | self.inf | self.quiet_bit
        self.one = (self.bias << self.sig_bits) | self.int_bit

    def __repr__(self) -> str:
        return self.name


F32 = Format("f32", 8, 23, False)
F64 = Format("f64", 11, 52, False)
F80 = Format("f80", 15, 63, True)
FORMATS = {"f32": F32, "f64": F64, "f80": F80}


# -- encoding -------------------------------------------------------------------------------
def unpack(fmt: Format, bits: int) -> tuple[int, int, int, int]:
    """(class, sign, significand, exponent): a FINITE value is significand * 2**exponent."""
    sign = (bits >> (fmt.width - 1)) & 1
    e = (bits >> fmt.sig_bits) & fmt.emask
    sig = bits & ((1 << fmt.sig_bits) - 1)
    if fmt.explicit and e != 0 and not sig & fmt.int_bit:
        return UNSUPPORTED, sign, 0, 0               # unnormal, pseudo-NaN, pseudo-infinity
    if e == fmt.emask:
        return (INF if sig & fmt.frac_mask == 0 else NAN), sign, 0, 0
    if e == 0:
        return (ZERO if sig == 0 else FINITE), sign, sig, fmt.qmin   # incl. pseudo-denormals
    return FINITE, sign, sig | (1 << fmt.frac_bits), e - fmt.bias - fmt.frac_bits


def _zero(fmt: Format, sign: int) -> int:
    return fmt.sign_bit if sign else 0


def _pack(fmt: Format, sign: int, sig: int, q: int) -> int:
    """Encode sign * sig * 2**q, where sig < 2**precision and q >= qmin are already final."""
    if sig >> fmt.frac_bits:
        field = q - fmt.qmin + 1
        mag = (field << fmt.sig_bits) | (sig if fmt.explicit else sig & fmt.frac_mask)
    else:
        mag = sig
    return (fmt.sign_bit if sign else 0) | mag


def _round_up(rc: int, sign: int, odd: int, rem: int, half: int, sticky: bool) -> bool:
    """Whether dropping `rem` (of scale 2*half) plus a sticky part rounds the magnitude up."""
    if rc == NEAREST:
        return rem > half or (rem == half and (sticky or bool(odd)))
    inexact = rem != 0 or sticky
    return inexact and (rc == DOWN if sign else rc == UP)


def _round_at(sig: int, exp: int, q: int, rc: int, sign: int, sticky: bool, p: int):
    """(kept significand, its exponent, inexact) of +-(sig + s) * 2**exp rounded to a multiple
    of 2**q; a carry to 2**p renormalizes."""
    k = q - exp
    if k <= 0:
        assert not sticky, "sticky rounding needs guard bits"
        return sig << -k, q, False
    keep, rem = sig >> k, sig & ((1 << k) - 1)
    keep += _round_up(rc, sign, keep & 1, rem, 1 << (k - 1), sticky)
    if keep >> p:
        keep, q = keep >> 1, q + 1
    return keep, q, rem != 0 or sticky


def round_pack_flags(fmt: Format, sign: int, sig: int, exp: int, rc: int, sticky: bool = False):
    """(encoding, flags) of +-(sig + s) * 2**exp rounded per rc, where 0 < s < 1 when sticky
    else s = 0. With sticky set, sig must hold at least precision + 2 bits so the round bit is
    exact. Underflow: tiny after rounding to the precision with an unbounded exponent, and inexact."""
    if sig == 0:
        return _zero(fmt, sign), 0
    p = fmt.precision
    q_unbounded = exp + sig.bit_length() - p
    keep_u, q_u, _ = _round_at(sig, exp, q_unbounded, rc, sign, sticky, p)
    tiny = keep_u.bit_length() - 1 + q_u < fmt.emin
    keep, q, inexact = _round_at(sig, exp, max(q_unbounded, fmt.qmin), rc, sign, sticky, p)
    if q + p - 1 > fmt.bias:                          # overflow
        to_inf = rc == NEAREST or rc == (DOWN if sign else UP)
        return (fmt.sign_bit if sign else 0) | (fmt.inf if to_inf else fmt.max_finite), OE | PE
    flags = (PE | (UE if tiny else 0)) if inexact else 0
    return (_pack(fmt, sign, keep, q) if keep else _zero(fmt, sign)), flags


def round_pack(fmt: Format, sign: int, sig: int, exp: int, rc: int, sticky: bool = False) -> int:
    """The encoding of round_pack_flags."""
    return round_pack_flags(fmt, sign, sig, exp, rc, sticky)[0]


def _value(u) -> Fraction | float:
    cls, sign, sig, exp = u
    if cls == INF:
        return float("-inf") if sign else float("inf")
    v = Fraction(sig << exp) if exp >= 0 else Fraction(sig, 1 << -exp)
    return -v if sign else v


# -- NaN rules ------------------------------------------------------------------------------
def quiet(fmt: Format, bits: int) -> int:
    return bits | fmt.quiet_bit


def _x87_pick(fmt: Format, a: int, b: int, ua, ub) -> int:
    """x87: of two NaNs the QNaN, else the larger significand, else the positive one; quieted."""
    qa, qb = bool(a & fmt.quiet_bit), bool(b & fmt.quiet_bit)
    if ua[0] != NAN or ub[0] != NAN:
        return quiet(fmt, a if ua[0] == NAN else b)
    if qa != qb:
        return a if qa else b
    sa, sb = a & ((1 << fmt.sig_bits) - 1), b & ((1 << fmt.sig_bits) - 1)
    if sa != sb:
        return quiet(fmt, a if sa > sb else b)
    return quiet(fmt, a if not a & fmt.sign_bit else b)


def _is_snan(fmt: Format, bits: int, u) -> bool:
    return u[0] == NAN and not bits & fmt.quiet_bit


def _is_denormal(fmt: Format, bits: int) -> bool:
    """Exponent field zero and a non-zero significand (f80 pseudo-denormals included)."""
    return (bits >> fmt.sig_bits) & fmt.emask == 0 and bits & ((1 << fmt.sig_bits) - 1) != 0


def _denormal_flag(fmt: Format, operands: list[int]) -> int:
    return DE if any(_is_denormal(fmt, x) for x in operands) else 0


def _nan_result(fmt: Format, operands: list[int], unpacked: list):
    """(result, flags) forced by NaN or unsupported operands (IE for an SNaN or an unsupported
    encoding), or None when all are numbers."""
    classes = [u[0] for u in unpacked]
    if UNSUPPORTED in classes:
        return fmt.default_nan, IE
    if NAN not in classes:
        return None
    flags = IE if any(_is_snan(fmt, x, u) for x, u in zip(operands, unpacked)) else 0
    if fmt is F80 and len(operands) == 2:
        return _x87_pick(fmt, operands[0], operands[1], unpacked[0], unpacked[1]), flags
    return quiet(fmt, next(x for x, c in zip(operands, classes) if c == NAN)), flags


# -- arithmetic: each core returns (encoding, flags) ------------------------------------------
def _add(fmt, ua, ub, rc):
    (ca, sa, ma, ea), (cb, sb, mb, eb) = ua, ub
    if ca == INF or cb == INF:
        if ca == INF and cb == INF and sa != sb:
            return fmt.default_nan, IE
        return fmt.inf | (fmt.sign_bit if (sa if ca == INF else sb) else 0), 0
    e = min(ea, eb)
    total = (-ma if sa else ma) * (1 << (ea - e)) + (-mb if sb else mb) * (1 << (eb - e))
    if total == 0:
        if ca == ZERO and cb == ZERO and sa == sb:
            return _zero(fmt, sa), 0
        return _zero(fmt, rc == DOWN), 0
    return round_pack_flags(fmt, int(total < 0), abs(total), e, rc)


def _mul(fmt, ua, ub, rc):
    (ca, sa, ma, ea), (cb, sb, mb, eb) = ua, ub
    sign = sa ^ sb
    if INF in (ca, cb):
        if ZERO in (ca, cb):
            return fmt.default_nan, IE
        return fmt.inf | (fmt.sign_bit if sign else 0), 0
    return round_pack_flags(fmt, sign, ma * mb, ea + eb, rc)


def _div(fmt, ua, ub, rc):
    (ca, sa, ma, ea), (cb, sb, mb, eb) = ua, ub
    sign = sa ^ sb
    if (ca == cb == INF) or (ca == cb == ZERO):
        return fmt.default_nan, IE
    if ca == INF or cb == ZERO:
        return fmt.inf | (fmt.sign_bit if sign else 0), (ZE if ca != INF else 0)
    if ca == ZERO or cb == INF:
        return _zero(fmt, sign), 0
    shift = max(0, fmt.precision + 2 + mb.bit_length() - ma.bit_length())
    q, r = divmod(ma << shift, mb)
    return round_pack_flags(fmt, sign, q, ea - eb - shift, rc, sticky=r != 0)


def _sqrt(fmt, ua, rc):
    cls, sign, m, e = ua
    if cls == ZERO:
        return _zero(fmt, sign), 0
    if sign:
        return fmt.default_nan, IE
    if cls == INF:
        return fmt.inf, 0
    if e & 1:
        m, e = m << 1, e - 1
    k = max(0, fmt.precision + 2 - m.bit_length() // 2)
    m, e = m << (2 * k), e - 2 * k
    r = isqrt(m)
    return round_pack_flags(fmt, 0, r, e // 2, rc, sticky=r * r != m)


_ARITH = {"fadd": _add, "fmul": _mul, "fdiv": _div}


def _with_operands(fmt: Format, operands: list[int], core):
    """(result, flags) of core(unpacked operands), after the NaN rules; a denormal operand
    adds DE unless a NaN, an invalid operation or a division by zero decided the result."""
    unpacked = [unpack(fmt, x) for x in operands]
    forced = _nan_result(fmt, operands, unpacked)
    if forced is not None:
        return forced
    r, flags = core(*unpacked)
    return r, flags | (0 if flags & (IE | ZE) else _denormal_flag(fmt, operands))


def binary_flags(name: str, fmt: Format, a: int, b: int, rc: int):
    """(encoding, flags) of fadd/fsub/fmul/fdiv of two encodings in `fmt`."""
    if name == "fsub":
        return _with_operands(fmt, [a, b], lambda ua, ub: _add(fmt, ua, (ub[0], ub[1] ^ 1, ub[2], ub[3]), rc & 3))
    return _with_operands(fmt, [a, b], lambda ua, ub: _ARITH[name](fmt, ua, ub, rc & 3))


def binary(name: str, fmt: Format, a: int, b: int, rc: int) -> int:
    """fadd/fsub/fmul/fdiv of two encodings in `fmt`."""
    return binary_flags(name, fmt, a, b, rc)[0]


def sqrt_flags(fmt: Format, a: int, rc: int):
    return _with_operands(fmt, [a], lambda ua: _sqrt(fmt, ua, rc & 3))


def sqrt(fmt: Format, a: int, rc: int) -> int:
    return sqrt_flags(fmt, a, rc)[0]


# -- comparisons ----------------------------------------------------------------------------
def compare(pred: str, fmt: Format, a: int, b: int) -> bool:
    """cmpsd's predicates: unordered (a NaN or unsupported operand) is true only for unord/neq/nlt/nle."""
    ua, ub = unpack(fmt, a), unpack(fmt, b)
    if {ua[0], ub[0]} & {NAN, UNSUPPORTED}:
        return pred in ("unord", "neq", "nlt", "nle")
    x, y = _value(ua), _value(ub)
    return {"eq": x == y, "lt": x < y, "le": x <= y, "unord": False,
            "neq": x != y, "nlt": not x < y, "nle": not x <= y, "ord": True}[pred]


def compare_flags(fmt: Format, a: int, b: int, signaling: bool) -> int:
    """IE for an SNaN or unsupported operand, or any NaN when signaling (comisd, cmpltsd,
    fcom, maxsd); else, with no NaN operand, DE for a denormal operand."""
    ua, ub = unpack(fmt, a), unpack(fmt, b)
    classes = {ua[0], ub[0]}
    if UNSUPPORTED in classes or _is_snan(fmt, a, ua) or _is_snan(fmt, b, ub) \
            or (signaling and NAN in classes):
        return IE
    return 0 if NAN in classes else _denormal_flag(fmt, [a, b])


def minmax(name: str, fmt: Format, a: int, b: int) -> int:
    """minsd/maxsd: a when strictly less (greater) than b, else b (so NaNs and zeros give b)."""
    less = compare("lt", fmt, a, b) if name == "fmin" else compare("lt", fmt, b, a)
    return a if less else b


# -- conversions ----------------------------------------------------------------------------
def convert_flags(src: Format, dst: Format, a: int, rc: int):
    """(encoding, flags) between formats: exact when widening, rounded when narrowing; NaN
    payloads keep their top bits. A denormal f32/f64 source raises DE, a denormal f80 not."""
    u = unpack(src, a)
    cls, sign = u[0], u[1]
    if cls == UNSUPPORTED:
        return dst.default_nan, IE
    signbits = dst.sign_bit if sign else 0
    if cls == NAN:
        frac = a & src.frac_mask
        frac = frac << (dst.frac_bits - src.frac_bits) if dst.frac_bits >= src.frac_bits \
            else frac >> (src.frac_bits - dst.frac_bits)
        return signbits | dst.inf | dst.quiet_bit | frac, IE if _is_snan(src, a, u) else 0
    if cls == INF:
        return signbits | dst.inf, 0
    if cls == ZERO:
        return signbits, 0
    r, flags = round_pack_flags(dst, sign, u[2], u[3], rc & 3)
    return r, flags | (0 if src is F80 else _denormal_flag(src, [a]))     # fst m64: no DE


def convert(src: Format, dst: Format, a: int, rc: int) -> int:
    return convert_flags(src, dst, a, rc)[0]


def _to_integer(u, rc: int) -> tuple[int, bool]:
    """(a finite value rounded to an integer per rc (signed), inexact)."""
    cls, sign, sig, exp = u
    if cls == ZERO:
        return 0, False
    if exp >= 0:
        mag, inexact = sig << exp, False
    else:
        k = -exp
        mag, rem = sig >> k, sig & ((1 << k) - 1)
        mag += _round_up(rc, sign, mag & 1, rem, 1 << (k - 1), False)
        inexact = rem != 0
    return (-mag if sign else mag), inexact


def to_int_flags(fmt: Format, bits: int, a: int, rc: int):
    """(integer, flags) of cvtsd2si / fistp: NaN, infinities and results out of range give
    the integer indefinite and IE; an inexact result PE."""
    u = unpack(fmt, a)
    if u[0] not in (ZERO, FINITE):
        return INDEFINITE[bits], IE
    n, inexact = _to_integer(u, rc & 3)
    if not -(1 << (bits - 1)) <= n < (1 << (bits - 1)):
        return INDEFINITE[bits], IE
    return n & ((1 << bits) - 1), PE if inexact else 0


def to_int(fmt: Format, bits: int, a: int, rc: int) -> int:
    return to_int_flags(fmt, bits, a, rc)[0]


def from_int_flags(fmt: Format, value: int, width: int, rc: int):
    """cvtsi2sd / fild: the signed `width`-bit integer `value`, rounded to fmt (PE if inexact)."""
    n = value - (1 << width) if value >> (width - 1) else value
    return round_pack_flags(fmt, int(n < 0), abs(n), 0, rc & 3)


def from_int(fmt: Format, value: int, width: int, rc: int) -> int:
    return from_int_flags(fmt, value, width, rc)[0]


def round_integral_flags(fmt: Format, a: int, rc: int):
    """(roundsd / frndint, flags): the integral value per rc in the same format; -0.3 gives -0.
    A denormal operand raises DE for frndint (f80) only: roundsd never raises it."""
    def core(u):
        if u[0] in (ZERO, INF):
            return a, 0
        n, inexact = _to_integer(u, rc & 3)
        r = round_pack(fmt, u[1], abs(n), 0, NEAREST) if n else _zero(fmt, u[1])
        return r, PE if inexact else 0
    r, flags = _with_operands(fmt, [a], core)
    return r, flags if fmt is F80 else flags & ~DE


def round_integral(fmt: Format, a: int, rc: int) -> int:
    return round_integral_flags(fmt, a, rc)[0]


# -- the interpreter's entry ----------------------------------------------------------------
def evaluate_float(op, args: list[int]) -> int:
    """The value of float op `op` (dbt.ir.ops.FLOAT_OPS) on argument values `args`."""
    name, attrs = op.opcode, op.attrs
    if name == "fexc":
        return evaluate_exceptions(op, args)
    if name == "ftrans":                      # no reference but the CPU: see host_x87.py
        out = host_x87.run(attrs["insn"], args[0], args[1], args[2])
        return out[attrs["slot"]] | out[2] << 80
    fmt = FORMATS[attrs["fmt"]]
    if name in ("fadd", "fsub", "fmul", "fdiv"):
        return binary(name, fmt, args[0], args[1], args[2])
    if name == "fsqrt":
        return sqrt(fmt, args[0], args[1])
    if name in ("fmin", "fmax"):
        return minmax(name, fmt, args[0], args[1])
    if name == "fcmp":
        return int(compare(attrs["pred"], fmt, args[0], args[1]))
    if name == "fcvt":
        return convert(FORMATS[attrs["from_fmt"]], fmt, args[0], args[1])
    if name == "fcvt_to_int":
        return to_int(fmt, attrs["bits"], args[0], args[1])
    if name == "fcvt_from_int":
        return from_int(fmt, args[0], op.args[0].ty.value, args[1])
    if name == "fround":
        return round_integral(fmt, args[0], args[1])
    raise NotImplementedError(f"softfloat: no semantics for op {name!r}")


def evaluate_exceptions(op, args: list[int]) -> int:
    """An fexc op: its sticky flags (the last argument) and those float op attrs['of'] raises."""
    return (args[-1] & 0x3F) | _raised(op, args[:-1])


def _raised(op, args: list[int]) -> int:
    name, attrs = op.attrs["of"], op.attrs
    fmt = FORMATS[attrs["fmt"]]
    if name in ("fadd", "fsub", "fmul", "fdiv"):
        return binary_flags(name, fmt, args[0], args[1], args[2])[1]
    if name == "fsqrt":
        return sqrt_flags(fmt, args[0], args[1])[1]
    if name in ("fmin", "fmax", "fcmp"):
        return compare_flags(fmt, args[0], args[1], attrs["signaling"])
    if name == "fcvt":
        return convert_flags(FORMATS[attrs["from_fmt"]], fmt, args[0], args[1])[1]
    if name == "fcvt_to_int":
        return to_int_flags(fmt, attrs["bits"], args[0], args[1])[1]
    if name == "fcvt_from_int":
        return from_int_flags(fmt, args[0], op.args[0].ty.value, args[1])[1]
    if name == "fround":
        return round_integral_flags(fmt, args[0], args[1])[1]
    raise NotImplementedError(f"softfloat: no exception flags for op {name!r}")
