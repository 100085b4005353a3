"""Lowers the float ops whose meaning is the host instruction's: fexc (the exception flags of a
float op) and ftrans (an x87 transcendental, see dbt/backend/host_x87.py).

The host is an x86-64, so the flags come from the real thing: a small `internal`
helper per (op, formats) clears the sticky flags, sets the guest's rounding
control, runs the one SSE or x87 instruction the guest op stands for (inline
asm, so LLVM cannot fold, reorder or pick another instruction), reads MXCSR
(stmxcsr) or the x87 status word (fnstsw) and restores the host's modes
(MXCSR 0x1F80-style control and x87 CW 0x037F, as lower_float.py assumes).
Its result is the low six bits: IE DE ZE OE UE PE. softfloat.py computes the
same flags for the interpreter; tests/oracle/test_float_flags.py checks
softfloat against the host and tests/test_float_ops.py both engines.
x87 operands go through memory (fldt never raises), so no x87 register is live
across the asm; fild and the m16 fist are exact or handled by the lifter. ftrans
runs host_x87's thunk sequence as inline asm on the same THUNK_LAYOUT.
"""
from dbt.backend.host_x87 import HOST_CW, THUNK_LAYOUT
from dbt.ir.ops import Op

_ITY = {"f32": "i32", "f64": "i64", "f80": "i128"}
_FTY = {"f32": "float", "f64": "double"}
_SFX = {"f32": "ss", "f64": "sd"}
_X87_MEM = {"f32": "s", "f64": "l"}                     # AT&T size suffix of fld/fst m32/m64
_CLOBBERS = "~{dirflag},~{fpsr},~{flags},~{memory}"


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
    asm, constraints, kinds, rty = _sse_asm(op)
    params = ", ".join(f"{_ITY.get(k, k)} %a{i}" for i, k in enumerate(kinds))
    body = [f"define internal i32 @{fn}({params}, i64 %rc) noinline {{", "entry:",
            "  %old = alloca i32, align 4", "  %new = alloca i32, align 4", "  %out = alloca i32, align 4",
            "  call void @llvm.x86.sse.stmxcsr(ptr %old)", "  %o = load i32, ptr %old",
            "  %rc3 = and i64 %rc, 3", "  %rc32 = trunc i64 %rc3 to i32", "  %rcbits = shl i32 %rc32, 13",
            f"  %clear = and i32 %o, {~0x603F}", "  %n = or i32 %clear, %rcbits",
            "  store i32 %n, ptr %new", "  call void @llvm.x86.sse.ldmxcsr(ptr %new)"]
    args = []
    for i, k in enumerate(kinds):
        if k in _FTY:
            body.append(f"  %x{i} = bitcast {_ITY[k]} %a{i} to {_FTY[k]}")
            args.append(f"{_FTY[k]} %x{i}")
        else:
            args.append(f"{k} %a{i}")
    call = f'asm sideeffect "{asm}", "{constraints},{_CLOBBERS}"({", ".join(args)})'
    body.append(f"  call void {call}" if rty == "void" else f"  %r = call {rty} {call}")
    body += ["  call void @llvm.x86.sse.stmxcsr(ptr %out)", "  call void @llvm.x86.sse.ldmxcsr(ptr %old)",
             "  %f = load i32, ptr %out", "  %flags = and i32 %f, 63", "  ret i32 %flags", "}"]
    return body


def _x87_helper(op: Op, fn: str) -> list[str]:
    lines, kinds = _x87_body(op)
    inputs = [k for k in kinds if k != "out"]
    params = ", ".join(f"{_ITY[k]} %a{i}" for i, k in enumerate(inputs))
    body = [f"define internal i32 @{fn}({params}, i64 %rc) noinline {{", "entry:",
            "  %cw = alloca i16, align 2", "  %rc3 = and i64 %rc, 3", "  %rc16 = trunc i64 %rc3 to i16",
            "  %rcbits = shl i16 %rc16, 10", "  %cwv = or i16 %rcbits, 895", "  store i16 %cwv, ptr %cw",
            "  %host = alloca i16, align 2", "  store i16 895, ptr %host"]
    ptrs = []
    for i, k in enumerate(kinds):
        body.append(f"  %m{i} = alloca [16 x i8], align 16")
        if k == "f80":
            body += [f"  %t{i} = trunc i128 %a{i} to i80", f"  store i80 %t{i}, ptr %m{i}"]
        elif k != "out":
            body.append(f"  store {_ITY[k]} %a{i}, ptr %m{i}")
        ptrs.append(f"ptr elementtype([16 x i8]) %m{i}")
    asm = "\\0A\\09".join(["fnclex", "fldcw $1"] + lines + ["fnstsw %ax", "fldcw $2"])
    constraints = ",".join(["={ax}", "*m", "*m"] + ["*m"] * len(kinds)) + "," + _CLOBBERS
    args = ", ".join(["ptr elementtype(i16) %cw", "ptr elementtype(i16) %host"] + ptrs)
    body += [f'  %sw = call i16 asm sideeffect "{asm}", "{constraints}"({args})',
             "  %sw32 = zext i16 %sw to i32", "  %flags = and i32 %sw32, 63", "  ret i32 %flags", "}"]
    return body


def lower_fexc(e, op: Op, a: list[str]) -> str:
    """The i32 flags of fexc `op` (operand names `a`), through a per-module helper."""
    f, attrs = e.f, op.attrs
    name = attrs["of"]
    if name == "fcvt_from_int" and attrs["fmt"] == "f80":
        return "0"                                     # fild is exact
    x87 = _is_x87(op)
    fn = f"dbt_fexc_{_key(op)}"
    f.intrinsic("\n".join(_x87_helper(op, fn) if x87 else _sse_helper(op, fn)))
    if not x87:
        f.intrinsic("declare void @llvm.x86.sse.stmxcsr(ptr)")
        f.intrinsic("declare void @llvm.x86.sse.ldmxcsr(ptr)")
    has_rc = name in ("fadd", "fsub", "fmul", "fdiv", "fsqrt", "fcvt", "fcvt_to_int", "fcvt_from_int", "fround")
    values = op.args[:-1] if has_rc else op.args
    listed = [f"i{v.ty.value} {x}" for v, x in zip(values, a)]
    rc = a[len(values)] if has_rc else "0"
    return e(f"call i32 @{fn}({', '.join(listed)}, i64 {rc})")


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
