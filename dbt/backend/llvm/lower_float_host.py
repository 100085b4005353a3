"""Lowers the float ops whose meaning is the host instruction's: fexc (the exception flags of a
float op) and ftrans (an x87 transcendental, see dbt/backend/host_x87.py).

The host is an x86-64, so the flags come from the real thing: a small `internal`
helper per (op, formats) runs the one SSE or x87 instruction the guest op stands
for (inline asm, so LLVM cannot fold, reorder or pick another instruction) and
reads MXCSR (stmxcsr) or the x87 status word (fnstsw) after it. The host's own
sticky flags are kept equal to a subset of the guest's (fexc's sticky operand):
then the flags after the instruction, ORed with the guest's, are exactly the
guest's new flags, and no flag has to be cleared. Only when the host holds a flag
the guest does not (raised by other host code) does the helper clear it first
(ldmxcsr, fnclex), and only a directed rounding switches the host's rounding
control (and restores MXCSR 0x1F80 and x87 CW 0x037F after, as lower_float.py
assumes). Measured on this Xeon: an ldmxcsr or fnclex that changes the flags
costs 45-60 ns, an stmxcsr/fnstsw ~1 ns.
Its result is the low six bits: IE DE ZE OE UE PE. softfloat.py computes the
same flags for the interpreter; tests/oracle/test_float_flags.py checks
softfloat against the host and tests/test_float_ops.py both engines.
x87 operands go through memory (fldt never raises), so no x87 register is live
across the asm; fild and the m16 fist are exact or handled by the lifter. ftrans
runs host_x87's thunk sequence as inline asm on the same THUNK_LAYOUT.
"""
from dbt.backend import softfloat as sf
from dbt.backend.host_x87 import HOST_CW, THUNK_LAYOUT
from dbt.ir.ops import Op

_ITY = {"f32": "i32", "f64": "i64", "f80": "i128"}
_FTY = {"f32": "float", "f64": "double"}
_SFX = {"f32": "ss", "f64": "sd"}
_X87_MEM = {"f32": "s", "f64": "l"}                     # AT&T size suffix of fld/fst m32/m64
_CLOBBERS = "~{dirflag},~{fpsr},~{flags},~{memory}"
HOST_MXCSR = 0x1F80                 # the host's MXCSR control bits: nearest, all masked


def _sse_asm(op: Op) -> tuple[str, str, list[str], str]:
    """(asm, constraints, operand kinds, result type) of the SSE instruction for `op`; operand
    kinds are float formats or i32/i64 (ints go in general registers)."""
    name, attrs = op.attrs["of"], op.attrs
    fmt = attrs["fmt"]
    if name in ("fadd", "fsub", "fmul", "fdiv", "fmin", "fmax"):
        return f"{name[1:]}{_SFX[fmt]} $2, $0", "=x,0,x", [fmt, fmt], _FTY[fmt]
    if name == "fsqrt":
        return f"sqrt{_SFX[fmt]} $1, $0", "=x,x", [fmt], _FTY[fmt]
    if name == "fround":
        return f"round{_SFX[fmt]} $$4, $1, $0", "=x,x", [fmt], _FTY[fmt]
    if name == "fcmp":
        mnem = "comi" if attrs["signaling"] else "ucomi"
        return f"{mnem}{_SFX[fmt]} $1, $0", "x,x", [fmt, fmt], "void"
    if name == "fcvt":
        src = attrs["from_fmt"]
        return f"cvt{_SFX[src]}2{_SFX[fmt]} $1, $0", "=x,x", [src], _FTY[fmt]
    if name == "fcvt_to_int":
        bits = attrs["bits"]
        return f"cvt{_SFX[fmt]}2si $1, $0", "=r,x", [fmt], f"i{bits}"
    if name == "fcvt_from_int":
        it = f"i{op.args[0].ty.value}"
        return f"cvtsi2{_SFX[fmt]}{'q' if it == 'i64' else 'l'} $1, $0", "=x,r", [it], _FTY[fmt]
    raise NotImplementedError(f"fexc: no SSE instruction for {name} {fmt}")


def _x87_body(op: Op) -> tuple[list[str], list[str]]:
    """(asm lines, memory operand kinds) of the x87 instruction for `op`; operand $k+3 is
    the k-th memory operand ($0 is the status word, $1 the guest's control word, $2 the
    host's). Kinds:
    a float format (an input) or "out" (8 bytes the instruction may store to)."""
    name, attrs = op.attrs["of"], op.attrs
    fmt = attrs["fmt"]
    if name in ("fadd", "fsub", "fmul", "fdiv"):       # st(0) = a, st(1) = b; st(0) = a op b
        return ["fldt $4", "fldt $3", f"{name} %st(1), %st", "fstp %st(0)", "fstp %st(0)"], ["f80", "f80"]
    if name in ("fcmp", "fmin", "fmax"):
        mnem = "fcomip" if attrs["signaling"] else "fucomip"
        return ["fldt $4", "fldt $3", f"{mnem} %st(1), %st", "fstp %st(0)"], ["f80", "f80"]
    if name in ("fsqrt", "fround"):
        return ["fldt $3", "fsqrt" if name == "fsqrt" else "frndint", "fstp %st(0)"], ["f80"]
    if name == "fcvt" and fmt == "f80":                # fld m32/m64
        src = attrs["from_fmt"]
        return [f"fld{_X87_MEM[src]} $3", "fstp %st(0)"], [src]
    if name == "fcvt":                                 # fst m32/m64
        return ["fldt $3", f"fstp{_X87_MEM[fmt]} $4"], ["f80", "out"]
    if name == "fcvt_to_int":
        return ["fldt $3", f"fistp{'ll' if attrs['bits'] == 64 else 'l'} $4"], ["f80", "out"]
    raise NotImplementedError(f"fexc: no x87 instruction for {name} {fmt}")


def _is_x87(op: Op) -> bool:
    return "f80" in (op.attrs["fmt"], op.attrs.get("from_fmt"))


def _key(op: Op) -> str:
    attrs = op.attrs
    parts = [attrs["of"], attrs["fmt"], attrs.get("from_fmt", ""), str(attrs.get("bits", "")),
             "s" if attrs["signaling"] else "q", f"i{op.args[0].ty.value}"]
    return "_".join(p for p in parts if p)


def _sse_helper(op: Op, fn: str) -> list[str]:
    """@fn(operands..., i64 rc, i32 sticky) -> i32: sticky | the flags the SSE instruction raises.
    MXCSR is loaded with 0x1F80 | RC | sticky before it (usually the value it holds: cheap), and
    with 0x1F80 | the flags after a directed rounding."""
    asm, constraints, kinds, rty = _sse_asm(op)
    params = ", ".join(f"{_ITY.get(k, k)} %a{i}" for i, k in enumerate(kinds))
    body = [f"define internal i32 @{fn}({params}, i64 %rc, i32 %sticky) noinline {{", "entry:",
            "  %new = alloca i32, align 4", "  %out = alloca i32, align 4", "  %dflt = alloca i32, align 4",
            "  %rc3 = and i64 %rc, 3", "  %rc32 = trunc i64 %rc3 to i32", "  %rcbits = shl i32 %rc32, 13",
            f"  %control = or i32 %rcbits, {HOST_MXCSR}", "  %s = and i32 %sticky, 63",
            "  %n = or i32 %control, %s", "  store i32 %n, ptr %new", "  call void @llvm.x86.sse.ldmxcsr(ptr %new)"]
    args = []
    for i, k in enumerate(kinds):
        if k in _FTY:
            body.append(f"  %x{i} = bitcast {_ITY[k]} %a{i} to {_FTY[k]}")
            args.append(f"{_FTY[k]} %x{i}")
        else:
            args.append(f"{k} %a{i}")
    call = f'asm sideeffect "{asm}", "{constraints},{_CLOBBERS}"({", ".join(args)})'
    body.append(f"  call void {call}" if rty == "void" else f"  %r = call {rty} {call}")
    body += ["  call void @llvm.x86.sse.stmxcsr(ptr %out)", "  %f = load i32, ptr %out",
             "  %fl = and i32 %f, 63", "  %flags = or i32 %fl, %s", "  %directed = icmp ne i64 %rc3, 0",
             "  br i1 %directed, label %restore, label %done", "restore:",
             f"  %d = or i32 %flags, {HOST_MXCSR}", "  store i32 %d, ptr %dflt",
             "  call void @llvm.x86.sse.ldmxcsr(ptr %dflt)", "  br label %done", "done:", "  ret i32 %flags", "}"]
    return body


def _x87_helper(op: Op, fn: str) -> list[str]:
    """@fn(operands..., i64 rc, i32 sticky) -> i32: sticky | the flags the x87 instruction
    raises. fnclex runs only when the status word holds flags outside `sticky`; fldcw only
    for a directed rounding."""
    lines, kinds = _x87_body(op)
    inputs = [k for k in kinds if k != "out"]
    params = ", ".join(f"{_ITY[k]} %a{i}" for i, k in enumerate(inputs))
    body = [f"define internal i32 @{fn}({params}, i64 %rc, i32 %sticky) noinline {{", "entry:",
            "  %cw = alloca i16, align 2", "  %rc3 = and i64 %rc, 3", "  %rc16 = trunc i64 %rc3 to i16",
            "  %rcbits = shl i16 %rc16, 10", f"  %cwv = or i16 %rcbits, {HOST_CW}", "  store i16 %cwv, ptr %cw",
            "  %host = alloca i16, align 2", f"  store i16 {HOST_CW}, ptr %host"]
    ptrs = []
    for i, k in enumerate(kinds):
        body.append(f"  %m{i} = alloca [16 x i8], align 16")
        if k == "f80":
            body += [f"  %t{i} = trunc i128 %a{i} to i80", f"  store i80 %t{i}, ptr %m{i}"]
        elif k != "out":
            body.append(f"  store {_ITY[k]} %a{i}, ptr %m{i}")
        ptrs.append(f"ptr elementtype([16 x i8]) %m{i}")
    constraints = ",".join(["={ax}", "*m", "*m"] + ["*m"] * len(kinds)) + "," + _CLOBBERS
    args = ", ".join(["ptr elementtype(i16) %cw", "ptr elementtype(i16) %host"] + ptrs)
    body += [f'  %sw0 = call i16 asm sideeffect "fnstsw %ax", "={{ax}},{_CLOBBERS}"()',
             "  %b32 = zext i16 %sw0 to i32", "  %s = and i32 %sticky, 63", "  %other = xor i32 %s, 63",
             "  %junk = and i32 %b32, %other", "  %dirty = icmp ne i32 %junk, 0",
             "  br i1 %dirty, label %clear, label %start", "clear:",
             f'  call void asm sideeffect "fnclex", "{_CLOBBERS}"()', "  br label %start", "start:",
             "  %directed = icmp ne i64 %rc3, 0", "  br i1 %directed, label %slow, label %fast"]
    for label, asm_lines in (("fast", lines + ["fnstsw %ax"]),          # the host's CW already
                             ("slow", ["fldcw $1"] + lines + ["fnstsw %ax", "fldcw $2"])):
        asm = "\\0A\\09".join(asm_lines)
        body += [f"{label}:", f'  %sw_{label} = call i16 asm sideeffect "{asm}", "{constraints}"({args})',
                 "  br label %done"]
    body += ["done:", "  %sw = phi i16 [ %sw_fast, %fast ], [ %sw_slow, %slow ]",
             "  %sw32 = zext i16 %sw to i32", "  %fl = and i32 %sw32, 63", "  %flags = or i32 %fl, %s",
             "  ret i32 %flags", "}"]
    return body


def _exponent(e, fmt: str, x: str) -> str:
    """The biased exponent field of `x` as an i32."""
    F, t = sf.FORMATS[fmt], _ITY[fmt]
    ex = e(f"lshr {t} {x}, {F.sig_bits}")
    return e(f"and i32 {e(f'trunc {t} {ex} to i32') if t != 'i32' else ex}, {F.emask}")


def _within(e, fmt: str, x: str, lo: int, hi: int) -> str:
    """i1: x is a normal number (f80: integer bit set) with exponent field in [lo, hi]."""
    ex = _exponent(e, fmt, x)
    ok = e(f"and i1 {e(f'icmp uge i32 {ex}, {max(lo, 1)}')}, {e(f'icmp ule i32 {ex}, {hi}')}")
    if fmt == "f80":
        int_bit = e(f"and i128 {x}, {1 << 63}")
        ok = e(f"and i1 {ok}, {e(f'icmp ne i128 {int_bit}, 0')}")
    return ok


def _normal_or_zero(e, fmt: str, x: str) -> str:
    F, t = sf.FORMATS[fmt], _ITY[fmt]
    magnitude = e(f"and {t} {x}, {F.sign_bit - 1}")
    zero = e(f"icmp eq {t} {magnitude}, 0")
    return e(f"or i1 {zero}, {_within(e, fmt, x, 1, F.emask - 1)}")


def _quiet(e, op: Op, a: list[str]):
    """(i1: the op can raise no flag but PE on these operands, whether it can raise PE at all), by
    exponent ranges alone; None when no range is worth checking. A true answer is exact: the
    fast path that skips the host instruction never changes a result."""
    name, fmt = op.attrs["of"], op.attrs["fmt"]
    F = sf.FORMATS[fmt]
    top = F.emask - 1                                   # the largest normal exponent field
    if name in ("fadd", "fsub"):        # sums stay below 2**emax and are multiples of 2**(emin+1)
        return e(f"and i1 {_within(e, fmt, a[0], F.precision + 1, top - 2)}, "
                 f"{_within(e, fmt, a[1], F.precision + 1, top - 2)}"), True
    if name in ("fmul", "fdiv"):
        both = e(f"and i1 {_within(e, fmt, a[0], 1, top)}, {_within(e, fmt, a[1], 1, top)}")
        ea, eb = _exponent(e, fmt, a[0]), _exponent(e, fmt, a[1])
        if name == "fmul":              # 2**emin <= |a*b| < 2**emax
            lo, hi, v = F.bias + 1, top + F.bias - 2, e(f"add i32 {ea}, {eb}")
        else:                           # 2**emin <= |a/b| < 2**emax
            lo, hi, v = 2 - F.bias, F.bias - 1, e(f"sub i32 {ea}, {eb}")
        inside = e(f"and i1 {e(f'icmp sge i32 {v}, {lo}')}, {e(f'icmp sle i32 {v}, {hi}')}")
        return e(f"and i1 {both}, {inside}"), True
    if name == "fsqrt":
        sign = e(f"and {_ITY[fmt]} {a[0]}, {_lit(F, F.sign_bit)}")
        positive = e(f"icmp eq {_ITY[fmt]} {sign}, 0")
        return e(f"and i1 {positive}, {_within(e, fmt, a[0], 1, top)}"), True
    if name in ("fcmp", "fmin", "fmax"):
        return e(f"and i1 {_normal_or_zero(e, fmt, a[0])}, {_normal_or_zero(e, fmt, a[1])}"), False
    if name == "fcvt":
        S = sf.FORMATS[op.attrs["from_fmt"]]
        if S.precision < F.precision:                    # widening: exact
            return _normal_or_zero(e, op.attrs["from_fmt"], a[0]), False
        return _within(e, op.attrs["from_fmt"], a[0], S.bias + F.emin, S.bias + F.bias - 1), True
    if name == "fcvt_to_int":           # |x| < 2**(bits-2): in range after any rounding
        x = a[0]
        return e(f"or i1 {_within(e, fmt, x, 1, F.bias + op.attrs['bits'] - 3)}, "
                 f"{e(f'icmp eq i32 {_exponent(e, fmt, x)}, 0')}"), True   # (zero or a tiny denormal: DE
    if name == "fcvt_from_int":                                              #  is never raised here)
        return "true", op.args[0].ty.value > F.precision
    return None


def _lit(F, value: int) -> int:
    bits = 128 if F.explicit else F.width
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def lower_fexc(e, op: Op, a: list[str]) -> str:
    """fexc `op` (operand names `a`, the sticky flags last) through a per-module helper, skipped
    when exponent ranges prove the op raises nothing the sticky flags do not already hold."""
    f, attrs = e.f, op.attrs
    name = attrs["of"]
    sticky = e(f"and i32 {a[-1]}, 63")
    if name == "fcvt_from_int" and attrs["fmt"] == "f80":
        return sticky                                  # fild is exact
    x87 = _is_x87(op)
    fn = f"dbt_fexc_{_key(op)}"
    f.intrinsic("\n".join(_x87_helper(op, fn) if x87 else _sse_helper(op, fn)))
    if not x87:
        f.intrinsic("declare void @llvm.x86.sse.stmxcsr(ptr)")
        f.intrinsic("declare void @llvm.x86.sse.ldmxcsr(ptr)")
    has_rc = name in ("fadd", "fsub", "fmul", "fdiv", "fsqrt", "fcvt", "fcvt_to_int", "fcvt_from_int", "fround")
    values = op.args[:-2] if has_rc else op.args[:-1]
    listed = [f"i{v.ty.value} {x}" for v, x in zip(values, a)]
    rc = a[len(values)] if has_rc else "0"
    quiet = _quiet(e, op, a)
    if quiet is None:
        return e(f"call i32 @{fn}({', '.join(listed)}, i64 {rc}, i32 {sticky})")
    safe, pe = quiet
    if pe:
        inexact = e(f"and i32 {sticky}, 32")
        safe = e(f"and i1 {safe}, {e(f'icmp ne i32 {inexact}, 0')}")
    skip, call, join = (f.fresh(n).lstrip("%") for n in ("fxskip", "fxcall", "fxjoin"))
    f.emit(f"br i1 {safe}, label %{skip}, label %{call}")
    f.label(call)
    flags = e(f"call i32 @{fn}({', '.join(listed)}, i64 {rc}, i32 {sticky})")
    f.emit(f"br label %{join}")
    f.label(skip)
    f.emit(f"br label %{join}")
    f.label(join)
    return e(f"phi i32 [ {sticky}, %{skip} ], [ {flags}, %{call} ]")


def _ftrans_helper(insn: str, fn: str) -> list[str]:
    """@fn(i128 st0, i128 st1, i64 rc) -> i128: host_x87's thunk as inline asm; the result holds
    ST0 (bits 0-79) and ST1 (80-159) after `insn`, and the status word (160-175)."""
    at = THUNK_LAYOUT
    asm = "\\0A\\09".join(["fninit", "fldcw $1", "fldt $3", "fldt $2", insn, "fnstsw %ax",
                             "fstpt $4", "fstpt $5", "fninit", "fldcw $6"])
    constraints = "={ax}," + ",".join(["*m"] * 6) + "," + _CLOBBERS
    body = [f"define internal i176 @{fn}(i128 %a, i128 %b, i64 %rc) noinline {{", "entry:",
            "  %buf = alloca [96 x i8], align 16"]
    slots = {}
    for name in at:
        body.append(f"  %p_{name} = getelementptr i8, ptr %buf, i64 {at[name]}")
        slots[name] = f"%p_{name}"
    body += ["  %ta = trunc i128 %a to i80", "  store i80 %ta, ptr %p_st0", "  %tb = trunc i128 %b to i80",
             "  store i80 %tb, ptr %p_st1", "  %rc3 = and i64 %rc, 3", "  %rc16 = trunc i64 %rc3 to i16",
             "  %rcbits = shl i16 %rc16, 10", f"  %cw = or i16 %rcbits, {HOST_CW}", "  store i16 %cw, ptr %p_cw",
             f"  store i16 {HOST_CW}, ptr %p_host_cw"]
    ptrs = [f"ptr elementtype(i16) {slots['cw']}"] + [f"ptr elementtype(i80) {slots[n]}"
                                                       for n in ("st0", "st1", "out0", "out1")]
    ptrs.append(f"ptr elementtype(i16) {slots['host_cw']}")
    body += [f'  %sw = call i16 asm sideeffect "{asm}", "{constraints}"({", ".join(ptrs)})',
             "  %o0 = load i80, ptr %p_out0", "  %o1 = load i80, ptr %p_out1",
             "  %w0 = zext i80 %o0 to i176", "  %w1 = zext i80 %o1 to i176", "  %ws = zext i16 %sw to i176",
             "  %s1 = shl i176 %w1, 80", "  %s2 = shl i176 %ws, 160", "  %r1 = or i176 %w0, %s1",
             "  %r = or i176 %r1, %s2", "  ret i176 %r", "}"]
    return body


def lower_ftrans(e, op: Op, a: list[str]) -> str:
    """ftrans: ST(slot) after the host's instruction (bits 0-79) and its status word (80-95)."""
    insn, slot = op.attrs["insn"], op.attrs["slot"]
    fn = f"dbt_ftrans_{insn}"
    e.f.intrinsic("\n".join(_ftrans_helper(insn, fn)))
    both = e(f"call i176 @{fn}(i128 {a[0]}, i128 {a[1]}, i64 {a[2]})")
    shifted = e(f"lshr i176 {both}, {80 * slot}") if slot else both
    value = e(f"zext i80 {e(f'trunc i176 {shifted} to i80')} to i128")
    sw16 = e(f"trunc i176 {e(f'lshr i176 {both}, 160')} to i16")
    sw = e(f"shl i128 {e(f'zext i16 {sw16} to i128')}, 80")
    return e(f"or i128 {value}, {sw}")
