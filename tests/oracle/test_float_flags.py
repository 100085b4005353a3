"""softfloat's exception flags (IE DE ZE OE UE PE) checked against the host CPU's.

Each record runs one instruction natively after clearing the flags (ldmxcsr of a
value with none set; fnclex), then stores MXCSR (stmxcsr) or the x87 status word
(fnstsw) beside its operands; its low six bits must equal softfloat's flags for
the same operands and rounding control. Operands as in test_float_host.py: every
pair of edge encodings and seeded random ones. The lifters' use of these flags
(both engines, the guest's MXCSR and status word) is checked in test_sse_float.py
and test_x87.py.
"""
import pytest

from dbt.backend import softfloat as sf
from dbt.ir.ops import FLOAT_PREDICATES

from .test_float_host import RCS, SSE, fcw, pairs, run_records, singles

FLAGS = 0x3F
SIGNALING = {"eq": False, "lt": True, "le": True, "unord": False,
             "neq": False, "nlt": True, "nle": True, "ord": False}   # cmpsd's predicates


def assert_flags(what: str, operands, got, want_fn, width: int) -> None:
    got = [g & FLAGS for g in got]
    bad = [(ops, g, want_fn(*ops)) for ops, g in zip(operands, got) if g != want_fn(*ops)]
    assert not bad, f"{what}: {len(bad)} of {len(got)} differ, e.g. " + "; ".join(
        f"({', '.join(f'{o:#0{width // 4 + 2}x}' for o in ops)}): host {g:#04x} softfloat {w:#04x}"
        for ops, g, w in bad[:6])


def sse(body: str, operands, sizes, rc: int):
    """MXCSR after `body` (flags cleared before it) for each record."""
    out = sum(sizes)
    return run_records(f"ldmxcsr dword ptr [rdi]; {body}; stmxcsr dword ptr [rsi+{out}]",
                       operands, sizes, 4, 0x1F80 | rc << 13)


def x87(body: str, operands, sizes, rc: int):
    """The x87 status word after `body` (flags cleared before it) for each record."""
    out = sum(sizes)
    return run_records(f"fnclex; {body}; fnstsw ax; mov word ptr [rsi+{out}], ax; fninit; fldcw word ptr [rdi+8]",
                       operands, sizes, 2, fcw=fcw(rc))


# -- SSE -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("rc", RCS)
@pytest.mark.parametrize("fmt_name", ["f32", "f64"])
def test_sse_arithmetic_flags(fmt_name, rc):
    fmt, (sfx, ptr, size) = sf.FORMATS[fmt_name], SSE[fmt_name]
    ops = pairs(fmt, seed=500 + rc, n_random=200)
    for name in ("fadd", "fsub", "fmul", "fdiv"):
        mnem = name[1:] + sfx
        got = sse(f"movs{sfx[1]} xmm0, {ptr} ptr [rsi]; {mnem} xmm0, {ptr} ptr [rsi+{size}]", ops, (size, size), rc)
        assert_flags(f"{mnem} rc={rc}", ops, got, lambda a, b: sf.binary_flags(name, fmt, a, b, rc)[1], fmt.width)
    singles_ = [(a,) for a in singles(fmt, seed=600 + rc)]
    got = sse(f"sqrt{sfx} xmm0, {ptr} ptr [rsi]", singles_, (size,), rc)
    assert_flags(f"sqrt{sfx} rc={rc}", singles_, got, lambda a: sf.sqrt_flags(fmt, a, rc)[1], fmt.width)
    got = sse(f"round{sfx} xmm0, {ptr} ptr [rsi], 4", singles_, (size,), rc)
    assert_flags(f"round{sfx} rc={rc}", singles_, got, lambda a: sf.round_integral_flags(fmt, a, rc)[1], fmt.width)


@pytest.mark.parametrize("fmt_name", ["f32", "f64"])
def test_sse_compare_flags(fmt_name):
    fmt, (sfx, ptr, size) = sf.FORMATS[fmt_name], SSE[fmt_name]
    ops = pairs(fmt, seed=700, n_random=100)
    load = f"movs{sfx[1]} xmm0, {ptr} ptr [rsi]"
    for mnem, signaling in ((f"min{sfx}", True), (f"max{sfx}", True), (f"ucomi{sfx}", False), (f"comi{sfx}", True)):
        got = sse(f"{load}; {mnem} xmm0, {ptr} ptr [rsi+{size}]", ops, (size, size), 0)
        assert_flags(mnem, ops, got, lambda a, b: sf.compare_flags(fmt, a, b, signaling), fmt.width)
    for imm, pred in enumerate(FLOAT_PREDICATES):
        got = sse(f"{load}; cmp{sfx} xmm0, {ptr} ptr [rsi+{size}], {imm}", ops, (size, size), 0)
        assert_flags(f"cmp{sfx} {pred}", ops, got, lambda a, b: sf.compare_flags(fmt, a, b, SIGNALING[pred]),
                     fmt.width)


@pytest.mark.parametrize("rc", RCS)
def test_sse_conversion_flags(rc):
    ops = [(a,) for a in singles(sf.F64, seed=800 + rc)]
    ops32 = [(a,) for a in singles(sf.F32, seed=810 + rc)]
    got = sse("cvtsd2ss xmm0, qword ptr [rsi]", ops, (8,), rc)
    assert_flags(f"cvtsd2ss rc={rc}", ops, got, lambda a: sf.convert_flags(sf.F64, sf.F32, a, rc)[1], 64)
    got = sse("cvtss2sd xmm0, dword ptr [rsi]", ops32, (8,), rc)
    assert_flags(f"cvtss2sd rc={rc}", ops32, got, lambda a: sf.convert_flags(sf.F32, sf.F64, a, rc)[1], 32)
    for fmt, ops_f, size, sfx in ((sf.F64, ops, 8, "sd"), (sf.F32, ops32, 4, "ss")):
        ptr = "qword" if size == 8 else "dword"
        for bits, reg in ((32, "eax"), (64, "rax")):
            for mnem, r in ((f"cvt{sfx}2si", rc), (f"cvtt{sfx}2si", 3)):
                got = sse(f"{mnem} {reg}, {ptr} ptr [rsi]", ops_f, (size,), rc)
                assert_flags(f"{mnem} {reg} rc={rc}", ops_f, got,
                             lambda a: sf.to_int_flags(fmt, bits, a, r)[1], fmt.width)
    ints = [(v,) for v in (0, 1, 2**24 + 1, 2**53 + 1, 2**63 - 1, 2**63, 2**31 - 1, 2**31 + 1, 0xFFFFFFFF)]
    for bits, reg, ptr in ((32, "eax", "dword"), (64, "rax", "qword")):
        vals = [(v & ((1 << bits) - 1),) for (v,) in ints]
        for fmt, sfx in ((sf.F64, "sd"), (sf.F32, "ss")):
            got = sse(f"mov {reg}, {ptr} ptr [rsi]; cvtsi2{sfx} xmm0, {reg}", vals, (8,), rc)
            assert_flags(f"cvtsi2{sfx} {reg} rc={rc}", vals, got,
                         lambda a: sf.from_int_flags(fmt, a, bits, rc)[1], 64)


# -- x87 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("rc", RCS)
def test_x87_arithmetic_flags(rc):
    ops = pairs(sf.F80, seed=900 + rc, n_random=150)
    # fld b; fld a: st(0) = a, st(1) = b; "fsub st(0), st(1)" is st(0) = a - b.
    for name in ("fadd", "fsub", "fmul", "fdiv"):
        got = x87(f"fld tbyte ptr [rsi+16]; fld tbyte ptr [rsi]; {name} st(0), st(1)", ops, (16, 16), rc)
        assert_flags(f"{name} rc={rc}", ops, got, lambda a, b: sf.binary_flags(name, sf.F80, a, b, rc)[1], 80)
    one = [(a,) for a in singles(sf.F80, seed=950 + rc)]
    for insn, want in (("fsqrt", lambda a: sf.sqrt_flags(sf.F80, a, rc)[1]),
                       ("frndint", lambda a: sf.round_integral_flags(sf.F80, a, rc)[1])):
        got = x87(f"fld tbyte ptr [rsi]; {insn}", one, (16,), rc)
        assert_flags(f"{insn} rc={rc}", one, got, want, 80)


@pytest.mark.parametrize("rc", RCS)
def test_x87_conversion_flags(rc):
    one = [(a,) for a in singles(sf.F80, seed=960 + rc)]
    for dst, ptr in ((sf.F64, "qword"), (sf.F32, "dword")):
        got = x87(f"fld tbyte ptr [rsi]; fstp {ptr} ptr [rsi+16]", one, (24,), rc)
        assert_flags(f"fstp {ptr} rc={rc}", one, got, lambda a: sf.convert_flags(sf.F80, dst, a, rc)[1], 80)
        narrow = [(a,) for a in singles(dst, seed=970 + rc, n_random=100)]
        got = x87(f"fld {ptr} ptr [rsi]", narrow, (8,), rc)
        assert_flags(f"fld {ptr}", narrow, got, lambda a: sf.convert_flags(dst, sf.F80, a, rc)[1], dst.width)
    for bits, ptr in ((32, "dword"), (64, "qword")):
        got = x87(f"fld tbyte ptr [rsi]; fistp {ptr} ptr [rsi+16]", one, (24,), rc)
        assert_flags(f"fistp {ptr} rc={rc}", one, got, lambda a: sf.to_int_flags(sf.F80, bits, a, rc)[1], 80)


def test_x87_compare_flags():
    ops = pairs(sf.F80, seed=990, n_random=100)
    for insn, signaling in (("fucomi", False), ("fcomi", True), ("fucom", False), ("fcom", True)):
        operand = "st(0), st(1)" if insn.endswith("i") else "st(1)"
        got = x87(f"fld tbyte ptr [rsi+16]; fld tbyte ptr [rsi]; {insn} {operand}", ops, (16, 16), 0)
        assert_flags(insn, ops, got, lambda a, b: sf.compare_flags(sf.F80, a, b, signaling), 80)
