"""System-ish lifters that stay in translated code or exit to the runtime:
syscall, cpuid (a fixed feature set), rdtsc (virtual time), hlt, ud2, int3.

The CPUID feature set is dbt/frontend/x86/cpuid.py's.
RDTSC reads virtual time: the number of guest instructions retired before it
(1 tick per instruction) plus cpu.tsc_offset (0 in user mode; the pc machine
adds the time `hlt` skipped and TSC writes), so both engines read the same values.
"""
from capstone import x86_const as X

from dbt.frontend.x86.cpuid import CPUID_LEAVES
from dbt.ir.exits import ExitReason, Vector
from dbt.ir.ops import Ty


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
