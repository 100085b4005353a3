"""The guest CPU's CPUID answers: the lifter of cpuid (sem_system.py) returns them, and the
Linux loader derives AT_HWCAP from them without loading the lifters.

CPUID feature set (documented, fixed; what `AT_HWCAP` must agree with):
  leaf 0           max basic leaf 7, vendor "DbtVirtualCP"
  leaf 1           family 6 model 0x3c; EDX: FPU TSC CX8 CMOV FXSR SSE SSE2;
                   ECX: POPCNT. No SSE3+, no AVX, no CX16.
  leaf 7           all zero (no AVX2, no BMI1/2; tzcnt executes with BMI1
                   semantics, as on the host, where bsf-compatible code uses it)
  0x80000000       max extended leaf 0x80000001
  0x80000001       EDX: SYSCALL NX LM; ECX: LAHF-SAHF, ABM (lzcnt)
  any other leaf   all zero
"""

CPUID_LEAVES = {
    # leaf: (eax, ebx, ecx, edx)
    0x0: (7, int.from_bytes(b"DbtV", "little"), int.from_bytes(b"alCP", "little"),
          int.from_bytes(b"irtu", "little")),
    0x1: (0x000306C3, 0x00000800, 1 << 23,
          (1 << 0) | (1 << 4) | (1 << 8) | (1 << 15) | (1 << 24) | (1 << 25) | (1 << 26)),
    0x80000000: (0x80000001, 0, 0, 0),
    0x80000001: (0, 0, (1 << 0) | (1 << 5), (1 << 11) | (1 << 20) | (1 << 29)),
}
