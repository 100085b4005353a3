"""System-ish lifters that stay in translated code or exit to the runtime:
syscall, cpuid (a fixed feature set), rdtsc (virtual time), hlt, ud2, int3.

CPUID feature set (documented, fixed; what `AT_HWCAP` must agree with):
  leaf 0           max basic leaf 7, vendor "DbtVirtualCP"
  leaf 1           family 6 model 0x3c; EDX: FPU TSC CX8 CMOV FXSR SSE SSE2;
                   ECX: POPCNT. No SSE3+, no AVX, no CX16.
  leaf 7           all zero (no AVX2, no BMI1/2; tzcnt executes with BMI1
                   semantics, as on the host, where bsf-compatible code uses it)
  0x80000000       max extended leaf 0x80000001
  0x80000001       EDX: SYSCALL NX LM; ECX: LAHF-SAHF, ABM (lzcnt)
  any other leaf   all zero
RDTSC reads virtual time: the number of guest instructions retired before it
(1 tick per instruction) plus cpu.tsc_offset (0 in user mode; the pc machine
adds the time `hlt` skipped and TSC writes), so both engines read the same values.
"""
from capstone import x86_const as X

from dbt.ir.exits import ExitReason, Vector
from dbt.ir.ops import Ty

CPUID_LEAVES = {
    # leaf: (eax, ebx, ecx, edx)
    0x0: (7, int.from_bytes(b"DbtV", "little"), int.from_bytes(b"alCP", "little"),
          int.from_bytes(b"irtu", "little")),
    0x1: (0x000306C3, 0x00000800, 1 << 23,
          (1 << 0) | (1 << 4) | (1 << 8) | (1 << 15) | (1 << 24) | (1 << 25) | (1 << 26)),
    0x80000000: (0x80000001, 0, 0, 0),
    0x80000001: (0, 0, (1 << 0) | (1 << 5), (1 << 11) | (1 << 20) | (1 << 29)),
}


def lift_cpuid(ctx, insn):
    b = ctx.b
    leaf = ctx.get_reg(X.X86_REG_EAX)
    results = [b.const(Ty.I32, 0) for _ in range(4)]
    for number, values in CPUID_LEAVES.items():
        hit = b.eq(leaf, number)
        results = [b.select(hit, b.const(Ty.I32, v), r) for v, r in zip(values, results)]
    for reg, value in zip((X.X86_REG_EAX, X.X86_REG_EBX, X.X86_REG_ECX, X.X86_REG_EDX), results):
        ctx.put_reg(reg, value)


def lift_rdtsc(ctx, insn):
    b = ctx.b
    tsc = b.add(b.add(ctx.get64("icount"), ctx.index), ctx.get64("tsc_offset"))
    ctx.put_reg(X.X86_REG_EAX, b.trunc(tsc, Ty.I32))
    ctx.put_reg(X.X86_REG_EDX, b.trunc(b.lshr(tsc, 32), Ty.I32))


def lift_syscall(ctx, insn):
    ctx.end_exit(ExitReason.SYSCALL)


def lift_hlt(ctx, insn):
    if ctx.privileged():
        ctx.end_exit(ExitReason.HLT)


def lift_int3(ctx, insn):
    ctx.software_interrupt(Vector.BP)


def _fault(vector):
    def lift(ctx, insn):
        ctx.fault(vector)
    return lift


LIFTERS = {
    X.X86_INS_CPUID: lift_cpuid,
    X.X86_INS_RDTSC: lift_rdtsc,
    X.X86_INS_SYSCALL: lift_syscall,
    X.X86_INS_HLT: lift_hlt,
    X.X86_INS_UD2: _fault(Vector.UD),
    X.X86_INS_INT3: lift_int3,
}
