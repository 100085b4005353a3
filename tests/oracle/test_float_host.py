"""softfloat (the interpreter's float semantics) checked against the host CPU's SSE and x87.

Each test runs one instruction natively under one rounding mode (ldmxcsr /
fldcw, or roundsd's immediate) over an array of operand records in the data
region, walked by a short loop that stores each result beside its operands;
every result must equal softfloat's bit for bit. Operands: every pair of edge
encodings (zeros, subnormals, extremes, infinities, NaNs with payloads, f80
unsupported encodings, halfway cases) plus seeded random encodings.
"""
import random

import pytest

from dbt.backend import softfloat as sf
from dbt.ir.ops import FLOAT_PREDICATES

from .native import DATA_ADDR, DATA_SIZE, assemble, run_native

RCS = (0, 1, 2, 3)
SSE = {"f32": ("ss", "dword", 4), "f64": ("sd", "qword", 8)}
HEADER = 16                                   # [rdi]: MXCSR, [rdi+8]: x87 control word
ROOM = DATA_SIZE - HEADER - 0x200             # the tail holds the guest stack


def edge_values(fmt: sf.Format) -> list[int]:
    """Encodings of every class and the boundaries between them, both signs."""
    p, s = fmt.precision, fmt.sig_bits
    ulp1 = fmt.one + 1                                       # 1 + ulp
    half_ulp = (fmt.bias - p) << s | fmt.int_bit             # 2**-p: half an ulp of 1
    ten = sf.from_int(fmt, 10, 32, 0)
    mags = [0, 1, fmt.frac_mask, 1 << s | fmt.int_bit,     # zero, subnormals, min normal
            fmt.max_finite, fmt.inf, fmt.one, ulp1, fmt.one - 1 if not fmt.explicit else
            ((fmt.bias - 1) << s) | (1 << s) - 1,
            fmt.one | fmt.quiet_bit,                         # 1.5
            sf.binary("fdiv", fmt, fmt.one, ten, 0),         # 0.1
            half_ulp, half_ulp | 1 << (fmt.frac_bits - 1),   # 2**-p, 1.5 * 2**-p
            (fmt.bias + 1) << s | fmt.int_bit | 1,           # 2 + 2 ulp
            (fmt.bias + p) << s | fmt.int_bit | 3,           # a large integer-ish value
            fmt.inf | fmt.quiet_bit | 0x5A5,                 # QNaN with payload
            fmt.inf | 0x1234]                                # SNaN with payload
    if fmt.explicit:
        mags += [fmt.one ^ fmt.int_bit, 1 << 63 | 1, fmt.inf ^ fmt.int_bit | 7, fmt.inf ^ fmt.int_bit]
    return [m | sign for m in mags for sign in (0, fmt.sign_bit)]


def random_values(fmt: sf.Format, rng: random.Random, n: int) -> list[int]:
    """Random encodings: any bits, values near 1, near the subnormal range, near overflow."""
    out = []
    for i in range(n):
        kind = i % 4
        frac = rng.getrandbits(fmt.frac_bits)
        if kind == 0:
            bits = rng.getrandbits(fmt.width)
        else:
            centre = {1: fmt.bias, 2: 1, 3: fmt.emask - 2}[kind]
            e = max(0, min(fmt.emask - 1, centre + rng.randint(-fmt.precision - 2, 3)))
            bits = e << fmt.sig_bits | frac
        if fmt.explicit and (bits >> fmt.sig_bits) & fmt.emask and rng.random() < 0.97:
            bits |= fmt.int_bit
        out.append(bits | (fmt.sign_bit if rng.random() < 0.5 else 0))
    return out


def pairs(fmt: sf.Format, seed: int, n_random: int = 300) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    edges = edge_values(fmt)
    randoms = random_values(fmt, rng, 2 * n_random)
    near = [(a, a ^ rng.getrandbits(8) ^ (rng.getrandbits(1) << (fmt.width - 1))) for a in randoms[:n_random // 2]]
    return [(a, b) for a in edges for b in edges] + list(zip(randoms[::2], randoms[1::2])) + near


def singles(fmt: sf.Format, seed: int, n_random: int = 600) -> list[int]:
    return edge_values(fmt) + random_values(fmt, random.Random(seed), n_random)


def run_records(body: str, operands: list[tuple], sizes: tuple[int, ...], out_size: int,
                mxcsr: int = 0x1F80, fcw: int = 0x037F) -> list[int]:
    """Run `body` once per record natively; rsi points at the record: operands then the result."""
    rec = -(-(sum(sizes) + out_size) // 8) * 8
    per_run = ROOM // rec
    results = []
    for start in range(0, len(operands), per_run):
        chunk = operands[start:start + per_run]
        data = bytearray(DATA_SIZE)
        data[0:4], data[8:10] = mxcsr.to_bytes(4, "little"), fcw.to_bytes(2, "little")
        for i, values in enumerate(chunk):
            at = HEADER + i * rec
            for v, size in zip(values, sizes):
                data[at:at + size] = (v & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
                at += size
        asm = (f"ldmxcsr dword ptr [rdi]; fldcw word ptr [rdi+8]; lea rsi, [rdi+{HEADER}]; "
               f"mov rcx, {len(chunk)}; top: {body}; add rsi, {rec}; dec rcx; jnz top")
        out = run_native(assemble(asm), {"rdi": DATA_ADDR}, 0x2, bytes(data))
        off = sum(sizes)
        results += [int.from_bytes(out.data[HEADER + i * rec + off:HEADER + i * rec + off + out_size], "little")
                    for i in range(len(chunk))]
    return results


def assert_all(what: str, operands, got, want_fn, width: int) -> None:
    bad = [(ops, g, want_fn(*ops)) for ops, g in zip(operands, got) if g != want_fn(*ops)]
    assert not bad, f"{what}: {len(bad)} of {len(got)} differ, e.g. " + "; ".join(
        f"({', '.join(f'{o:#0{width // 4 + 2}x}' for o in ops)}): host {g:#x} softfloat {w:#x}"
        for ops, g, w in bad[:4])


# -- SSE ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("rc", RCS)
@pytest.mark.parametrize("fmt_name", ["f32", "f64"])
@pytest.mark.parametrize("name", ["fadd", "fsub", "fmul", "fdiv"])
def test_sse_arithmetic(name, fmt_name, rc):
    fmt, (sfx, ptr, size) = sf.FORMATS[fmt_name], SSE[fmt_name]
    mnem = {"fadd": "add", "fsub": "sub", "fmul": "mul", "fdiv": "div"}[name] + sfx
    ops = pairs(fmt, seed=hash((name, fmt_name, rc)) & 0xFFFF)
    got = run_records(f"movs{sfx[1]} xmm0, {ptr} ptr [rsi]; {mnem} xmm0, {ptr} ptr [rsi+{size}]; "
                      f"movs{sfx[1]} {ptr} ptr [rsi+{2 * size}], xmm0", ops, (size, size), size, 0x1F80 | rc << 13)
    assert_all(f"{mnem} rc={rc}", ops, got, lambda a, b: sf.binary(name, fmt, a, b, rc), fmt.width)


@pytest.mark.parametrize("rc", RCS)
@pytest.mark.parametrize("fmt_name", ["f32", "f64"])
def test_sse_sqrt_and_round(fmt_name, rc):
    fmt, (sfx, ptr, size) = sf.FORMATS[fmt_name], SSE[fmt_name]
    ops = [(a,) for a in singles(fmt, seed=rc)]
    got = run_records(f"sqrt{sfx} xmm0, {ptr} ptr [rsi]; movs{sfx[1]} {ptr} ptr [rsi+{size}], xmm0",
                      ops, (size,), size, 0x1F80 | rc << 13)
    assert_all(f"sqrt{sfx} rc={rc}", ops, got, lambda a: sf.sqrt(fmt, a, rc), fmt.width)
    for imm, mxcsr in ((8 | rc, 0x1F80), (4, 0x1F80 | rc << 13)):      # static, then MXCSR.RC
        got = run_records(f"round{sfx} xmm0, {ptr} ptr [rsi], {imm}; movs{sfx[1]} {ptr} ptr [rsi+{size}], xmm0",
                          ops, (size,), size, mxcsr)
        assert_all(f"round{sfx} imm={imm} rc={rc}", ops, got, lambda a: sf.round_integral(fmt, a, rc), fmt.width)


@pytest.mark.parametrize("fmt_name", ["f32", "f64"])
def test_sse_min_max_and_compare(fmt_name):
    fmt, (sfx, ptr, size) = sf.FORMATS[fmt_name], SSE[fmt_name]
    ops = pairs(fmt, seed=7)
    for name in ("fmin", "fmax"):
        mnem = name[1:] + sfx
        got = run_records(f"movs{sfx[1]} xmm0, {ptr} ptr [rsi]; {mnem} xmm0, {ptr} ptr [rsi+{size}]; "
                          f"movs{sfx[1]} {ptr} ptr [rsi+{2 * size}], xmm0", ops, (size, size), size)
        assert_all(mnem, ops, got, lambda a, b: sf.minmax(name, fmt, a, b), fmt.width)
    for imm, pred in enumerate(FLOAT_PREDICATES):
        got = run_records(f"movs{sfx[1]} xmm0, {ptr} ptr [rsi]; cmp{sfx} xmm0, {ptr} ptr [rsi+{size}], {imm}; "
                          f"movd dword ptr [rsi+{2 * size}], xmm0", ops, (size, size), 4)
        assert_all(f"cmp{sfx} {pred}", ops, got,
                   lambda a, b: 0xFFFFFFFF if sf.compare(pred, fmt, a, b) else 0, fmt.width)


@pytest.mark.parametrize("rc", RCS)
def test_sse_conversions(rc):
    mxcsr = 0x1F80 | rc << 13
    ops = [(a,) for a in singles(sf.F64, seed=10 + rc)]
    got = run_records("cvtsd2ss xmm0, qword ptr [rsi]; movd dword ptr [rsi+8], xmm0", ops, (8,), 4, mxcsr)
    assert_all(f"cvtsd2ss rc={rc}", ops, got, lambda a: sf.convert(sf.F64, sf.F32, a, rc), 64)
    ops32 = [(a,) for a in singles(sf.F32, seed=20 + rc)]
    got = run_records("cvtss2sd xmm0, dword ptr [rsi]; movq qword ptr [rsi+8], xmm0", ops32, (8,), 8, mxcsr)
    assert_all(f"cvtss2sd rc={rc}", ops32, got, lambda a: sf.convert(sf.F32, sf.F64, a, rc), 32)
    near_ints = [(sf.from_int(sf.F64, v & (2**64 - 1), 64, 0) + d) & (2**64 - 1)
                 for v in (2**31, -2**31, 2**63, 2**31 - 1, 7, -7, 2**52 + 1) for d in (-1, 0, 1)]
    for fmt, ops_f, size, sfx in ((sf.F64, ops + [(v,) for v in near_ints], 8, "sd"), (sf.F32, ops32, 4, "ss")):
        ptr = "qword" if size == 8 else "dword"
        for bits, reg in ((32, "eax"), (64, "rax")):
            for mnem, r in ((f"cvt{sfx}2si", rc), (f"cvtt{sfx}2si", 3)):
                got = run_records(f"{mnem} {reg}, {ptr} ptr [rsi]; mov [rsi+{size}], {reg}",
                                  ops_f, (size,), bits // 8, mxcsr)
                assert_all(f"{mnem} {reg} rc={rc}", ops_f, got, lambda a: sf.to_int(fmt, bits, a, r), fmt.width)
    rng = random.Random(rc)
    ints = [0, 1, -1, 2**24 + 1, 2**31 - 1, -2**31, 2**53 + 1, 2**63 - 1, -2**63, 2**62 + 2**9 + 1] + \
        [rng.getrandbits(rng.choice((8, 25, 32, 54, 64))) for _ in range(200)]
    for bits, reg, ptr in ((32, "eax", "dword"), (64, "rax", "qword")):
        vals = [(v & ((1 << bits) - 1),) for v in ints]
        for fmt, sfx, size in ((sf.F64, "sd", 8), (sf.F32, "ss", 4)):
            got = run_records(f"mov {reg}, {ptr} ptr [rsi]; cvtsi2{sfx} xmm0, {reg}; movs{sfx[1]} [rsi+8], xmm0",
                              vals, (8,), size, mxcsr)
            assert_all(f"cvtsi2{sfx} {reg} rc={rc}", vals, got, lambda a: sf.from_int(fmt, a, bits, rc), 64)


# -- x87 ---------------------------------------------------------------------------------------
def fcw(rc: int) -> int:
    return 0x037F | rc << 10          # all exceptions masked, 64-bit precision


@pytest.mark.parametrize("rc", RCS)
@pytest.mark.parametrize("name", ["fadd", "fsub", "fmul", "fdiv"])
def test_x87_arithmetic(name, rc):
    ops = pairs(sf.F80, seed=100 + rc, n_random=200)
    # Intel's fsubp/fdivp st(1), st(0): st(1) = st(1) op st(0), with a pushed first.
    insn = {"fadd": "faddp", "fsub": "fsubp", "fmul": "fmulp", "fdiv": "fdivp"}[name]
    got = run_records(f"fld tbyte ptr [rsi]; fld tbyte ptr [rsi+16]; {insn} st(1), st(0); "
                      "fstp tbyte ptr [rsi+32]", ops, (16, 16), 10, fcw=fcw(rc))
    assert_all(f"{insn} rc={rc}", ops, got, lambda a, b: sf.binary(name, sf.F80, a, b, rc), 80)


@pytest.mark.parametrize("rc", RCS)
def test_x87_unary_and_conversions(rc):
    ops = [(a,) for a in singles(sf.F80, seed=200 + rc)]
    for insn, want in (("fsqrt", lambda a: sf.sqrt(sf.F80, a, rc)),
                       ("frndint", lambda a: sf.round_integral(sf.F80, a, rc))):
        got = run_records(f"fld tbyte ptr [rsi]; {insn}; fstp tbyte ptr [rsi+16]", ops, (16,), 10, fcw=fcw(rc))
        assert_all(f"{insn} rc={rc}", ops, got, want, 80)
    for dst, ptr, size in ((sf.F64, "qword", 8), (sf.F32, "dword", 4)):
        got = run_records(f"fld tbyte ptr [rsi]; fstp {ptr} ptr [rsi+16]", ops, (16,), size, fcw=fcw(rc))
        assert_all(f"fstp {ptr} rc={rc}", ops, got, lambda a: sf.convert(sf.F80, dst, a, rc), 80)
        narrow = [(a,) for a in singles(dst, seed=300 + rc, n_random=200)]
        got = run_records(f"fld {ptr} ptr [rsi]; fstp tbyte ptr [rsi+16]", narrow, (16,), 10, fcw=fcw(rc))
        assert_all(f"fld {ptr} rc={rc}", narrow, got, lambda a: sf.convert(dst, sf.F80, a, rc), dst.width)
    near_ints = [sf.from_int(sf.F80, v & (2**64 - 1), 64, 0) + d for v in (2**31, -2**31, 2**31 - 1, 5)
                 for d in (-1, 0, 1)] + [0x403E_8000000000000000, 0xC03E_8000000000000000, 0xC03E_8000000000000001]
    ints = ops + [(v,) for v in near_ints]
    for bits, ptr in ((32, "dword"), (64, "qword")):
        got = run_records(f"fld tbyte ptr [rsi]; fistp {ptr} ptr [rsi+16]", ints, (16,), bits // 8, fcw=fcw(rc))
        assert_all(f"fistp {ptr} rc={rc}", ints, got, lambda a: sf.to_int(sf.F80, bits, a, rc), 80)
        got = run_records(f"fld tbyte ptr [rsi]; fisttp {ptr} ptr [rsi+16]", ints, (16,), bits // 8, fcw=fcw(rc))
        assert_all(f"fisttp {ptr} rc={rc}", ints, got, lambda a: sf.to_int(sf.F80, bits, a, 3), 80)
        rng = random.Random(bits)
        raw = [(rng.getrandbits(bits),) for _ in range(50)] + [(1 << (bits - 1),), (1,), (0,)]
        got = run_records(f"fild {ptr} ptr [rsi]; fstp tbyte ptr [rsi+16]", raw, (16,), 10, fcw=fcw(rc))
        assert_all(f"fild {ptr}", raw, got, lambda a: sf.from_int(sf.F80, a, bits, rc), bits)


def test_x87_compare():
    ops = pairs(sf.F80, seed=400, n_random=200)
    # fucomip st(0)=a vs st(1)=b: ZF PF CF = 111 unordered, 100 equal, 001 a < b, 000 a > b.
    got = run_records("fld tbyte ptr [rsi+16]; fld tbyte ptr [rsi]; fucomip st(0), st(1); fstp st(0); "
                      "setz al; setp ah; setc dl; shl dl, 2; or al, dl; shl ah, 1; or al, ah; "
                      "mov byte ptr [rsi+32], al", ops, (16, 16), 1)

    def want(a, b):
        if sf.compare("unord", sf.F80, a, b):
            return 7
        return 1 if sf.compare("eq", sf.F80, a, b) else 4 if sf.compare("lt", sf.F80, a, b) else 0
    assert_all("fucomip", ops, got, want, 80)


# -- the JIT leaves the host's modes alone ----------------------------------------------------------
def host_modes() -> tuple[int, int]:
    """(MXCSR control bits, x87 control word) of this process, read natively."""
    out = run_native(assemble("stmxcsr dword ptr [rdi]; fnstcw word ptr [rdi+4]"), {"rdi": DATA_ADDR},
                     0x2, bytes(DATA_SIZE))
    return int.from_bytes(out.data[0:4], "little") & 0xFFC0, int.from_bytes(out.data[4:6], "little")


def test_jit_restores_mxcsr_and_x87_control_word():
    """Every rounding-mode switch the LLVM lowering makes is undone when the op ends; the
    fast path relies on the host running in the default modes (sticky flags are not compared)."""
    from dbt.api import Emulator
    from dbt.ir.builder import new_block
    from dbt.ir.exits import ExitReason
    from dbt.ir.ops import Ty

    before = host_modes()
    assert before == (0x1F80, 0x037F), f"host modes {before[0]:#x}, {before[1]:#x} are not the defaults"
    emu = Emulator("jit")
    block, b = new_block(0)
    rc = b.get("rcx", Ty.I64)
    x64, x80 = b.get("rax", Ty.I64), b.zext(b.get("rax", Ty.I64), Ty.I128)
    r = b.fdiv("f64", x64, b.fsqrt("f64", x64, rc), rc)
    r80 = b.fcvt("f80", "f64", b.fmul("f80", x80, b.fcvt_from_int("f80", x64, rc), rc), rc)
    b.put("rbx", b.xor(b.xor(r, r80), b.zext(b.fcvt_from_int("f32", x64, rc), Ty.I64)))
    b.exit(ExitReason.SYSCALL, 0)
    code = emu.engine.compile(block)
    for rc_value in (1, 2, 3, 0):
        emu.cpu.rcx, emu.cpu.rax = rc_value, 0x4000000000000001
        emu.engine.execute(code)
        assert host_modes() == before, f"rc={rc_value} left MXCSR/CW {host_modes()}"
