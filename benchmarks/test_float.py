"""Float benchmarks (pytest-benchmark): guest instructions per second of scalar SSE and x87
arithmetic under the JIT, where every op also raises its exception flags (MXCSR, x87 SW).

Run: python -m pytest benchmarks/test_float.py --benchmark-only --benchmark-columns=median,rounds
"""
import pytest

from test_engine import assemble, loaded, run_once

SSE_LOOP = """
    mov ecx, {n}
top:
    addsd xmm0, xmm1
    mulsd xmm2, xmm3
    divsd xmm4, xmm5
    sqrtsd xmm6, xmm7
    cvtsi2sd xmm8, ecx
    dec ecx
    jnz top
"""
X87_LOOP = """
    fld1
    fldz
    mov ecx, {n}
top:
    fadd st(0), st(1)
    fmul st(0), st(1)
    fsqrt
    dec ecx
    jnz top
    fstp st(0)
    fstp st(0)
"""


@pytest.mark.parametrize("name, loop, per_iter", [("sse", SSE_LOOP, 7), ("x87", X87_LOOP, 5)])
def test_float_loop(benchmark, name, loop, per_iter):
    n = 200_000
    code = assemble(loop.format(n=n))
    emu = loaded("jit", code)
    run_once(emu, code)
    insns = benchmark(run_once, emu, code)
    assert insns >= per_iter * n
    benchmark.extra_info["guest_insns_per_second"] = insns / benchmark.stats.stats.median
