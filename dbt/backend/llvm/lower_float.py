"""Lowers the IR's float ops (bit patterns; dbt/backend/softfloat.py defines them) to LLVM IR text.

Results equal softfloat's bit for bit, for every input and rounding control:
- rc == 0 (the host's own mode): bitcast to float/double/x86_fp80 and LLVM's
  native instruction, inline.
- rc != 0: a call to a small `internal` helper defined in the same module
  (noinline, strictfp) that saves the host mode, switches it (ldmxcsr for
  SSE; llvm.set.rounding, which writes the x87 control word and MXCSR, for
  f80), runs the constrained intrinsic (round.dynamic) and restores MXCSR and
  the x87 rounding bits exactly. A dynamic rc branches between the two.
- fround and fcvt_to_int never switch modes: integer code rounds to an
  integral value per rc, then cvttsd2si (f80: integer code) converts it;
  a constant rc of 0 or 3 takes cvtsd2si / cvttsd2si directly.
NaN results are recomputed on the integers after every native op (x86's SSE
and x87 rules), so LLVM's operand order or constant folding cannot change
them. Assumed: the host runs in its default mode between ops (MXCSR RC
nearest, no FTZ/DAZ, exceptions masked; x87 CW 0x037F), as Linux starts it.
"""
from dbt.backend import softfloat as sf
from dbt.backend.llvm.lower_float_host import lower_fexc, lower_ftrans
from dbt.ir.ops import Op, Value

_FTY = {"f32": "float", "f64": "double", "f80": "x86_fp80"}
_ITY = {"f32": "i32", "f64": "i64", "f80": "i128"}
_PRED = {"eq": "oeq", "lt": "olt", "le": "ole", "unord": "uno",
         "neq": "une", "nlt": "uge", "nle": "ugt", "ord": "ord"}
_X86_TO_FLT_ROUNDS = 0x0231       # nibble rc: llvm.set.rounding's mode for x86 rc 0..3
_STRICT = 'metadata !"round.dynamic", metadata !"fpexcept.strict"'


def _lit(bits: int, value: int) -> str:
    value &= (1 << bits) - 1
    return str(value - (1 << bits) if value >> (bits - 1) else value)


def _const(v: Value) -> int | None:
    return v.op.attrs["value"] if v.op is not None and v.op.opcode == "const" else None


class _Emit:
    """Straight-line integer and float code into a FunctionLowering `f`."""

    def __init__(self, f):
        self.f = f

    def __call__(self, text: str) -> str:
        r = self.f.fresh("fp")
        self.f.emit(f"{r} = {text}")
        return r

    def select(self, c: str, t: str, a: str, b: str) -> str:
        return self(f"select i1 {c}, {t} {a}, {t} {b}")

    def to_float(self, fmt: str, x: str) -> str:
        if fmt == "f80":
            x = self(f"trunc i128 {x} to i80")
            return self(f"bitcast i80 {x} to x86_fp80")
        return self(f"bitcast {_ITY[fmt]} {x} to {_FTY[fmt]}")

    def to_bits(self, fmt: str, x: str) -> str:
        if fmt == "f80":
            return self(f"zext i80 {self(f'bitcast x86_fp80 {x} to i80')} to i128")
        return self(f"bitcast {_FTY[fmt]} {x} to {_ITY[fmt]}")

    # -- classification on bit patterns ------------------------------------------------------
    def is_nan(self, fmt: str, x: str) -> str:
        """A true NaN (for f80: integer bit set; pseudo-NaNs are unsupported instead)."""
        F, t = sf.FORMATS[fmt], _ITY[fmt]
        if fmt == "f80":           # exponent all ones; significand above 2**63: integer bit and a fraction
            exp_max = self(f"icmp eq i16 {self(f'and i16 {self.f80_high(x)}, 32767')}, 32767")
            return self(f"and i1 {exp_max}, {self(f'icmp ugt i64 {self.f80_low(x)}, {_lit(64, 1 << 63)}')}")
        mag = self(f"and {t} {x}, {_lit(F.width, ~F.sign_bit)}")
        return self(f"icmp ugt {t} {mag}, {F.inf}")

    def f80_high(self, x: str) -> str:
        """Sign and exponent of an f80 as an i16 (narrow types compile much faster than i128)."""
        return self(f"trunc i128 {self(f'lshr i128 {x}, 64')} to i16")

    def f80_low(self, x: str) -> str:
        """The significand of an f80, integer bit included, as an i64."""
        return self(f"trunc i128 {x} to i64")

    def unsupported(self, x: str) -> str:
        """f80 unnormal, pseudo-NaN or pseudo-infinity: exponent non-zero, integer bit clear."""
        no_int_bit = self(f"icmp ult i64 {self.f80_low(x)}, {_lit(64, 1 << 63)}")
        exp_nonzero = self(f"icmp ne i16 {self(f'and i16 {self.f80_high(x)}, 32767')}, 0")
        return self(f"and i1 {no_int_bit}, {exp_nonzero}")

    def quiet(self, fmt: str, x: str) -> str:
        return self(f"or {_ITY[fmt]} {x}, {sf.FORMATS[fmt].quiet_bit}")

    def round_up(self, rc, nearest: str, inexact: str, neg: str) -> str:
        """Whether rounding adds a unit: `nearest` for rc 0; an inexact value rounded toward
        -inf (rc 1) when negative or +inf (rc 2) when positive; never toward zero (rc 3).
        rc is a constant 0..3 or the name of an i64 already & 3."""
        if isinstance(rc, int):
            if rc in (0, 3):
                return nearest if rc == 0 else "false"
            toward = neg if rc == 1 else self(f"xor i1 {neg}, true")
            return self(f"and i1 {inexact}, {toward}")
        is_rc = [self(f"icmp eq i64 {rc}, {k}") for k in range(3)]
        down = self(f"and i1 {neg}, {is_rc[1]}")
        up = self(f"and i1 {self(f'xor i1 {neg}, true')}, {is_rc[2]}")
        directed = self(f"and i1 {inexact}, {self(f'or i1 {down}, {up}')}")
        return self(f"or i1 {self(f'and i1 {is_rc[0]}, {nearest}')}, {directed}")

    # -- NaN results -------------------------------------------------------------------------
    def fix_nans(self, fmt: str, operands: list[str], r: str) -> str:
        """The result x86 gives when an operand is NaN (or invalid), else the native one."""
        F, t = sf.FORMATS[fmt], _ITY[fmt]
        r = self.select(self.is_nan(fmt, r), t, _lit(F.width if fmt != "f80" else 128, F.default_nan), r)
        nans = [self.is_nan(fmt, x) for x in operands]
        for x, nan in reversed(list(zip(operands, nans))):
            r = self.select(nan, t, self.quiet(fmt, x), r)
        if fmt != "f80":
            return r
        if len(operands) == 2:
            r = self.select(self(f"and i1 {nans[0]}, {nans[1]}"), t, self.x87_pick(*operands), r)
        bad = self.unsupported(operands[0])
        for x in operands[1:]:
            bad = self(f"or i1 {bad}, {self.unsupported(x)}")
        return self.select(bad, t, str(F.default_nan), r)

    def x87_pick(self, a: str, b: str) -> str:
        """Of two f80 NaNs: the QNaN, else the larger significand, else the positive one; quieted."""
        qa, qb = (self(f"icmp ne i128 {self(f'and i128 {x}, {1 << 62}')}, 0") for x in (a, b))
        sa, sb = (self(f"trunc i128 {x} to i64") for x in (a, b))
        a_pos = self(f"icmp eq i128 {self(f'and i128 {a}, {1 << 79}')}, 0")
        tie = self(f"and i1 {self(f'icmp eq i64 {sa}, {sb}')}, {a_pos}")
        by_sig = self(f"or i1 {self(f'icmp ugt i64 {sa}, {sb}')}, {tie}")
        same_kind = self(f"icmp eq i1 {qa}, {qb}")
        a_only_quiet = self(f"and i1 {qa}, {self(f'xor i1 {qb}, true')}")
        choose_a = self(f"or i1 {self(f'and i1 {same_kind}, {by_sig}')}, {a_only_quiet}")
        return self.select(choose_a, "i128", self.quiet("f80", a), self.quiet("f80", b))

    def nan_convert(self, src: str, dst: str, x: str) -> str:
        """A NaN converted between formats: sign and top fraction bits kept, quieted."""
        S, D, ts, td = sf.FORMATS[src], sf.FORMATS[dst], _ITY[src], _ITY[dst]
        frac = self(f"and {ts} {x}, {S.frac_mask}")
        sign = self(f"lshr {ts} {x}, {S.width - 1}")
        if D.frac_bits < S.frac_bits:
            frac = self(f"lshr {ts} {frac}, {S.frac_bits - D.frac_bits}")
        frac, sign = (self.resize(ts, td, v) for v in (frac, sign))
        if D.frac_bits > S.frac_bits:
            frac = self(f"shl {td} {frac}, {D.frac_bits - S.frac_bits}")
        r = self(f"or {td} {frac}, {_lit(128 if dst == 'f80' else D.width, D.inf | D.quiet_bit)}")
        return self(f"or {td} {r}, {self(f'shl {td} {sign}, {D.width - 1}')}")

    def resize(self, ts: str, td: str, x: str) -> str:
        if ts == td:
            return x
        return self(f"{'zext' if int(td[1:]) > int(ts[1:]) else 'trunc'} {ts} {x} to {td}")

    # -- rounding-mode dispatch -----------------------------------------------------------------
    def with_rc(self, rc_value: Value, rc: str, ty: str, fast, slow) -> str:
        """fast() when rc & 3 == 0, else slow(rc & 3); both emit straight-line code."""
        known = _const(rc_value)
        if known is not None:
            return fast() if known & 3 == 0 else slow(str(known & 3))
        f = self.f
        rc3 = self(f"and i64 {rc}, 3")
        is0 = self(f"icmp eq i64 {rc3}, 0")
        lf, ls, lj = (f.fresh(n).lstrip("%") for n in ("fpfast", "fpslow", "fpjoin"))
        f.emit(f"br i1 {is0}, label %{lf}, label %{ls}")
        f.label(lf)
        rf = fast()
        f.emit(f"br label %{lj}")
        f.label(ls)
        rs = slow(rc3)
        f.emit(f"br label %{lj}")
        f.label(lj)
        return self(f"phi {ty} [ {rf}, %{lf} ], [ {rs}, %{ls} ]")

    def helper(self, name: str, intrinsic: str, ins: list[str], out: str) -> str:
        """Define (once per module) @dbt_fp_<name>(ins..., i64 rc) -> out running one constrained
        intrinsic in mode rc. ins/out are float formats (passed as bits) or i32/i64."""
        f = self.f
        fn = f"dbt_fp_{name}"
        x87 = "f80" in ins or out == "f80"
        ity = [_ITY.get(t, t) for t in ins]
        body = [f"define internal {_ITY[out]} @{fn}({', '.join(f'{t} %a{i}' for i, t in enumerate(ity))}, "
                "i64 %rc) noinline strictfp {", "entry:", "  %mx = alloca i32, align 4",
                "  call void @llvm.x86.sse.stmxcsr(ptr %mx) strictfp",
                "  %rc3 = and i64 %rc, 3"]
        if x87:
            body += ["  %cw = call i32 @llvm.get.rounding() strictfp",
                     "  %sh = shl i64 %rc3, 2", f"  %tab = lshr i64 {_X86_TO_FLT_ROUNDS}, %sh",
                     "  %mode64 = and i64 %tab, 15", "  %mode = trunc i64 %mode64 to i32",
                     "  call void @llvm.set.rounding(i32 %mode) strictfp"]
        else:
            body += ["  %mxnew = alloca i32, align 4", "  %old = load i32, ptr %mx", "  %rc32 = trunc i64 %rc3 to i32",
                     "  %rcbits = shl i32 %rc32, 13", f"  %clear = and i32 %old, {_lit(32, ~0x6000)}",
                     "  %new = or i32 %clear, %rcbits", "  store i32 %new, ptr %mxnew",
                     "  call void @llvm.x86.sse.ldmxcsr(ptr %mxnew) strictfp"]
        args = []
        for i, t in enumerate(ins):
            if t in _FTY:
                if t == "f80":
                    body.append(f"  %n{i} = trunc i128 %a{i} to i80")
                    body.append(f"  %x{i} = bitcast i80 %n{i} to x86_fp80")
                else:
                    body.append(f"  %x{i} = bitcast {_ITY[t]} %a{i} to {_FTY[t]}")
                args.append(f"{_FTY[t]} %x{i}")
            else:
                args.append(f"{t} %a{i}")
        body.append(f"  %r = call {_FTY[out]} @{intrinsic}({', '.join(args)}, {_STRICT}) strictfp")
        if x87:
            body.append("  call void @llvm.set.rounding(i32 %cw) strictfp")
        body.append("  call void @llvm.x86.sse.ldmxcsr(ptr %mx) strictfp")
        if out == "f80":
            body += ["  %rb = bitcast x86_fp80 %r to i80", "  %ri = zext i80 %rb to i128"]
        else:
            body.append(f"  %ri = bitcast {_FTY[out]} %r to {_ITY[out]}")
        body += [f"  ret {_ITY[out]} %ri", "}"]
        f.intrinsic("\n".join(body))
        decl_args = ", ".join([_FTY.get(t, t) for t in ins] + ["metadata", "metadata"])
        f.intrinsic(f"declare {_FTY[out]} @{intrinsic}({decl_args})")
        decls = ["declare void @llvm.x86.sse.stmxcsr(ptr)", "declare void @llvm.x86.sse.ldmxcsr(ptr)"]
        for decl in decls + (["declare i32 @llvm.get.rounding()", "declare void @llvm.set.rounding(i32)"]
                             if x87 else []):
            f.intrinsic(decl)
        return fn

    def call(self, fn: str, out: str, args: list[tuple[str, str]], rc: str) -> str:
        listed = ", ".join(f"{t} {v}" for t, v in args)
        return self(f"call {_ITY[out]} @{fn}({listed}, i64 {rc})")


# -- one function per op -------------------------------------------------------------------------
def _binary(e: _Emit, op: Op, a: list[str]) -> str:
    fmt, name = op.attrs["fmt"], op.opcode
    t = _ITY[fmt]

    def fast():
        x, y = e.to_float(fmt, a[0]), e.to_float(fmt, a[1])
        return e.to_bits(fmt, e(f"{name} {_FTY[fmt]} {x}, {y}"))

    def slow(rc):
        fn = e.helper(f"{name}_{fmt}", f"llvm.experimental.constrained.{name}.{fmt}", [fmt, fmt], fmt)
        return e.call(fn, fmt, [(t, a[0]), (t, a[1])], rc)
    return e.fix_nans(fmt, a[:2], e.with_rc(op.args[2], a[2], t, fast, slow))


def _sqrt(e: _Emit, op: Op, a: list[str]) -> str:
    fmt = op.attrs["fmt"]
    t, ft = _ITY[fmt], _FTY[fmt]

    def fast():
        e.f.intrinsic(f"declare {ft} @llvm.sqrt.{fmt}({ft})")
        return e.to_bits(fmt, e(f"call {ft} @llvm.sqrt.{fmt}({ft} {e.to_float(fmt, a[0])})"))

    def slow(rc):
        fn = e.helper(f"sqrt_{fmt}", f"llvm.experimental.constrained.sqrt.{fmt}", [fmt], fmt)
        return e.call(fn, fmt, [(t, a[0])], rc)
    return e.fix_nans(fmt, a[:1], e.with_rc(op.args[1], a[1], t, fast, slow))


def _fcvt(e: _Emit, op: Op, a: list[str]) -> str:
    src, dst = op.attrs["from_fmt"], op.attrs["fmt"]
    S, D = sf.FORMATS[src], sf.FORMATS[dst]
    x = a[0]
    if D.precision > S.precision:            # widening is exact
        r = e.to_bits(dst, e(f"fpext {_FTY[src]} {e.to_float(src, x)} to {_FTY[dst]}"))
    else:
        def fast():
            return e.to_bits(dst, e(f"fptrunc {_FTY[src]} {e.to_float(src, x)} to {_FTY[dst]}"))

        def slow(rc):
            fn = e.helper(f"fptrunc_{dst}_{src}", f"llvm.experimental.constrained.fptrunc.{dst}.{src}", [src], dst)
            return e.call(fn, dst, [(_ITY[src], x)], rc)
        r = e.with_rc(op.args[1], a[1], _ITY[dst], fast, slow)
    r = e.select(e.is_nan(src, x), _ITY[dst], e.nan_convert(src, dst, x), r)
    if src == "f80":
        r = e.select(e.unsupported(x), _ITY[dst], _lit(D.width, D.default_nan), r)
    return r


def _from_int(e: _Emit, op: Op, a: list[str]) -> str:
    fmt, it = op.attrs["fmt"], f"i{op.args[0].ty.value}"

    def fast():
        return e.to_bits(fmt, e(f"sitofp {it} {a[0]} to {_FTY[fmt]}"))
    if fmt == "f80" or (fmt == "f64" and it == "i32"):     # exact
        return fast()

    def slow(rc):
        fn = e.helper(f"sitofp_{fmt}_{it}", f"llvm.experimental.constrained.sitofp.{fmt}.{it}", [it], fmt)
        return e.call(fn, fmt, [(it, a[0])], rc)
    return e.with_rc(op.args[1], a[1], _ITY[fmt], fast, slow)


def _round_integral(e: _Emit, fmt: str, x: str, rc) -> str:
    """fround in integer code: rc is a constant 0..3 or the name of an i64 already & 3."""
    F, t = sf.FORMATS[fmt], _ITY[fmt]
    bits = 128 if fmt == "f80" else F.width
    limit = F.bias + F.frac_bits                   # exponents from here on are integral
    ex = e(f"and {t} {e(f'lshr {t} {x}, {F.sig_bits}')}, {F.emask}")
    sign = e(f"and {t} {x}, {_lit(bits, F.sign_bit)}")
    neg = e(f"icmp ne {t} {sign}, 0")
    big = e(f"icmp uge {t} {ex}, {limit}")
    small = e(f"icmp ult {t} {ex}, {F.bias}")
    big_r = e.select(e.is_nan(fmt, x), t, e.quiet(fmt, x), x)
    # |x| < 1: 0 or 1 with x's sign
    nonzero = e(f"icmp ne {t} {e(f'and {t} {x}, {_lit(bits, F.sign_bit - 1)}')}, 0")
    frac_nz = e(f"icmp ne {t} {e(f'and {t} {x}, {F.frac_mask}')}, 0")
    over_half = e(f"and i1 {e(f'icmp eq {t} {ex}, {F.bias - 1}')}, {frac_nz}")
    up = e.round_up(rc, over_half, nonzero, neg)
    small_r = e(f"or {t} {sign}, {e.select(up, t, str(F.one), '0')}")
    # 1 <= |x| < 2**frac_bits: clear the k fraction bits below the units, then round up per rc
    k = e.select(e(f"or i1 {small}, {big}"), t, "1", e(f"sub {t} {limit}, {ex}"))
    unit = e(f"shl {t} 1, {k}")
    mask = e(f"sub {t} {unit}, 1")
    rem = e(f"and {t} {x}, {mask}")
    half = e(f"lshr {t} {unit}, 1")
    odd = e(f"icmp ne {t} {e(f'and {t} {x}, {unit}')}, 0")
    inexact = e(f"icmp ne {t} {rem}, 0")
    tie_up = e(f"and i1 {e(f'icmp eq {t} {rem}, {half}')}, {odd}")
    nearest = e(f"or i1 {e(f'icmp ugt {t} {rem}, {half}')}, {tie_up}")
    up = e.round_up(rc, nearest, inexact, neg)
    kept = e(f"and {t} {x}, {e(f'xor {t} {mask}, -1')}")
    mid_r = e(f"add {t} {kept}, {e.select(up, t, unit, '0')}")
    if fmt == "f80":                  # a carry out of the significand cleared the integer bit
        mid_r = e(f"or i128 {mid_r}, {1 << 63}")
    r = e.select(small, t, small_r, e.select(big, t, big_r, mid_r))
    if fmt == "f80":
        r = e.select(e.unsupported(x), t, str(F.default_nan), r)
    return r


def _rc_operand(e: _Emit, rc_value: Value, rc: str):
    known = _const(rc_value)
    return known & 3 if known is not None else e(f"and i64 {rc}, 3")


def _fround(e: _Emit, op: Op, a: list[str]) -> str:
    return _round_integral(e, op.attrs["fmt"], a[0], _rc_operand(e, op.args[1], a[1]))


def _to_int(e: _Emit, op: Op, a: list[str]) -> str:
    fmt, bits = op.attrs["fmt"], op.attrs["bits"]
    rc = _rc_operand(e, op.args[1], a[1])
    native = fmt != "f80" and rc in (0, 3)          # cvtsd2si in the host's mode, or cvttsd2si
    x = a[0] if native or rc == 3 else _round_integral(e, fmt, a[0], rc)
    if fmt != "f80":
        # cvtt* of an integral value: exact, or the integer indefinite (NaN, infinity, overflow)
        vt, et = ("<2 x double>", "double") if fmt == "f64" else ("<4 x float>", "float")
        fn = f"llvm.x86.sse{'2' if fmt == 'f64' else ''}.cvt{'' if rc == 0 else 't'}" \
             f"{'sd' if fmt == 'f64' else 'ss'}2si{'64' if bits == 64 else ''}"
        e.f.intrinsic(f"declare i{bits} @{fn}({vt})")
        v = e(f"insertelement {vt} poison, {et} {e.to_float(fmt, x)}, i32 0")
        return e(f"call i{bits} @{fn}({vt} {v})")
    high = e(f"lshr i128 {x}, 64")
    ex = e(f"trunc i128 {e(f'and i128 {high}, 32767')} to i64")
    sig = e(f"trunc i128 {x} to i64")
    neg = e(f"icmp ne i128 {e(f'and i128 {x}, {1 << 79}')}, 0")
    zero = e(f"icmp ult i64 {ex}, 16383")
    unbiased = e(f"sub i64 {ex}, 16383")
    over = e(f"icmp uge i64 {unbiased}, {bits - 1}")        # also NaN, infinity, unsupported
    shift = e.select(e(f"or i1 {zero}, {over}"), "i64", "0", e(f"sub i64 63, {unbiased}"))
    mag = e(f"lshr i64 {sig}, {shift}")
    value = e.resize("i64", f"i{bits}", e.select(neg, "i64", e(f"sub i64 0, {mag}"), mag))
    indefinite = _lit(bits, sf.INDEFINITE[bits])
    r = e.select(zero, f"i{bits}", "0", e.select(over, f"i{bits}", indefinite, value))
    return e.select(e.unsupported(x), f"i{bits}", indefinite, r) if rc == 3 else r


def _fcmp(e: _Emit, op: Op, a: list[str]) -> str:
    fmt, pred = op.attrs["fmt"], op.attrs["pred"]
    c = e(f"fcmp {_PRED[pred]} {_FTY[fmt]} {e.to_float(fmt, a[0])}, {e.to_float(fmt, a[1])}")
    if fmt == "f80":
        bad = e(f"or i1 {e.unsupported(a[0])}, {e.unsupported(a[1])}")
        if pred in ("unord", "neq", "nlt", "nle"):
            c = e(f"or i1 {c}, {bad}")
        else:
            c = e(f"and i1 {c}, {e(f'xor i1 {bad}, true')}")
    return c


def _minmax(e: _Emit, op: Op, a: list[str]) -> str:
    fmt = op.attrs["fmt"]
    x, y = e.to_float(fmt, a[0]), e.to_float(fmt, a[1])
    less = e(f"fcmp olt {_FTY[fmt]} {x}, {y}" if op.opcode == "fmin" else f"fcmp olt {_FTY[fmt]} {y}, {x}")
    if fmt == "f80":
        ok = e(f"xor i1 {e(f'or i1 {e.unsupported(a[0])}, {e.unsupported(a[1])}')}, true")
        less = e(f"and i1 {less}, {ok}")
    return e.select(less, _ITY[fmt], a[0], a[1])


_LOWER = {"fexc": lower_fexc, "ftrans": lower_ftrans, "fadd": _binary, "fsub": _binary, "fmul": _binary, "fdiv": _binary, "fsqrt": _sqrt,
          "fcvt": _fcvt, "fcvt_from_int": _from_int, "fcvt_to_int": _to_int, "fround": _fround,
          "fcmp": _fcmp, "fmin": _minmax, "fmax": _minmax}


def lower_float(f, op: Op, a: list[str]) -> None:
    """Emit float op `op` (its operands' LLVM names in `a`) into FunctionLowering `f`."""
    f.names[id(op.result)] = _LOWER[op.opcode](_Emit(f), op, a)
