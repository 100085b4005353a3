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
    IO = 4          # port or MMIO access
    FAULT = 5       # exit_vector, exit_error, exit_addr say which
    INTERRUPT = 6   # exit_request was set (device, signal, stop)
    BUDGET = 7      # instruction budget spent
    HELPER = 8      # an instruction the runtime emulates (cpuid, rdtsc, ...)
    STOP = 9        # reached the requested stop address


class Vector(enum.IntEnum):
    """x86 exception vectors used for guest faults."""
    DE = 0    # divide error
    DB = 1
    BP = 3
    UD = 6    # invalid opcode
    GP = 13   # general protection
    PF = 14   # page fault (exit_addr holds the address)
    CODE_WRITE = 0x100   # not x86: a store hit a page holding translated code (runtime handles it)
