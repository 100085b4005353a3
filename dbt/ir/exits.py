"""Why translated code returns to the runtime, and the fault vectors it reports.

Shared vocabulary of frontend (which emits exits), backends (which take them)
and runtime (which serves them). Values are written into CPUState.exit_reason.
"""
import enum


class ExitReason(enum.IntEnum):
    NONE = 0
    MISS = 1        # next pc has no translated block (or no chain yet)
    SYSCALL = 2
    HLT = 3
    IO = 4          # port I/O: see IOFlag
    FAULT = 5       # exit_vector, exit_error, exit_addr say which
    INTERRUPT = 6   # exit_request was set (device, signal, stop)
    BUDGET = 7      # instruction budget spent
    HELPER = 8      # an instruction the runtime emulates: see Helper
    STOP = 9        # reached the requested stop address
    HOT = 10        # a counted block reached its hotness threshold (nothing retired; rip = its pc)


class Vector(enum.IntEnum):
    """x86 exception vectors used for guest faults."""
    DE = 0    # divide error
    DB = 1
    BP = 3
    UD = 6    # invalid opcode
    GP = 13   # general protection
    PF = 14   # page fault (exit_addr holds the address)
    CODE_WRITE = 0x100   # not x86: a store hit a page holding translated code (runtime handles it)
    ACCESS_GROUP = 0x101  # not x86: a group's one check did not pass (dbt/backend/llvm/access_groups.py)


class IOFlag(enum.IntFlag):
    """An IO exit: cpu.exit_addr = port, cpu.exit_error = size in bytes (1/2/4) | these flags.

    cpu.rip is the next instruction; the runtime completes the in/out (the
    accumulator, or rsi/rdi/rcx/DF for the string forms) before going on.
    """
    WRITE = 0x100     # out / outs (else in / ins)
    STRING = 0x200    # ins / outs
    REP = 0x400       # with a rep prefix: the runtime does all rcx elements


class Helper(enum.IntEnum):
    """A HELPER exit: cpu.exit_vector says which; cpu.rip is the next instruction."""
    RDMSR = 1         # edx:eax = MSR[ecx]
    WRMSR = 2         # MSR[ecx] = edx:eax
    VMCALL = 3        # hypercall: rax = call number, args in rdi, rsi, ...
    IRQ_WINDOW = 4    # sti / popf / iretq may have enabled interrupts: deliver pending ones


SOFTWARE_INTERRUPT = 0x10000   # in exit_error of a FAULT exit from int n / int3: rip is the next insn
