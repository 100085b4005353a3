"""The guest CPU state: one ctypes Structure, the single source of truth.

The LLVM backend derives every field access from `SLOTS` (offsets and widths
taken from this Structure), and the interpreter reads and writes the same
Structure, so the two can never disagree about the layout.
"""
import ctypes

from dbt.ir.ops import Ty

GPR_NAMES = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
             "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")

# RFLAGS bits.
CF, PF, AF, ZF, SF, TF, IF, DF, OF = 0x1, 0x4, 0x10, 0x40, 0x80, 0x100, 0x200, 0x400, 0x800
ARITH_FLAGS = CF | PF | AF | ZF | SF | OF
AC, ID = 1 << 18, 1 << 21
FLAGS_FIXED = 0x2             # bit 1 always reads as 1


class CPUState(ctypes.Structure):
    _fields_ = [
        *((name, ctypes.c_uint64) for name in GPR_NAMES),
        ("rip", ctypes.c_uint64),
        # Lazy flags (see dbt/frontend/x86/flags.py for the meaning per cc_op).
        ("cc_op", ctypes.c_uint64),
        ("cc_dst", ctypes.c_uint64),
        ("cc_src", ctypes.c_uint64),
        ("cc_src2", ctypes.c_uint64),
        ("df", ctypes.c_uint64),          # 1 when the direction flag is set
        ("eflags", ctypes.c_uint64),      # non-arithmetic RFLAGS bits except DF (IF, AC, ID, ...)
        ("fs_base", ctypes.c_uint64),
        ("gs_base", ctypes.c_uint64),
        ("xmm", ctypes.c_uint64 * 32),    # XMM0-15, low then high quadword
        ("mxcsr", ctypes.c_uint32),
        ("fpu_cw", ctypes.c_uint16),
        ("fpu_sw", ctypes.c_uint16),
        ("fpu_tag", ctypes.c_uint16),
        ("fpu_top", ctypes.c_uint16),
        ("fpu_pad", ctypes.c_uint32),
        ("st", ctypes.c_uint8 * 128),     # x87 ST(0)..ST(7) in STACK order, 16 bytes each (80 used)
        # System mode.
        ("cr0", ctypes.c_uint64), ("cr2", ctypes.c_uint64),
        ("cr3", ctypes.c_uint64), ("cr4", ctypes.c_uint64),
        ("efer", ctypes.c_uint64),
        ("idt_base", ctypes.c_uint64), ("idt_limit", ctypes.c_uint64),
        ("gdt_base", ctypes.c_uint64), ("gdt_limit", ctypes.c_uint64),
        # Exit protocol: written by translated code, read by the executor.
        ("exit_reason", ctypes.c_uint64),
        ("exit_vector", ctypes.c_uint64),
        ("exit_error", ctypes.c_uint64),
        ("exit_addr", ctypes.c_uint64),
        ("exit_request", ctypes.c_uint64),   # set asynchronously to stop at the next block entry
        ("icount", ctypes.c_uint64),         # guest instructions retired
        ("budget", ctypes.c_uint64),         # icount value at which to stop (BUDGET exit)
        ("limit", ctypes.c_uint64),          # budget, or 0 while exit_request is set: translated
                                             # code's one entry check (set_budget, request_exit)
        ("tsc_offset", ctypes.c_uint64),     # rdtsc = icount + tsc_offset (system mode: skipped time)
        ("chain_count", ctypes.c_uint64),    # direct block-to-block transfers through a patched slot
        ("jc_hits", ctypes.c_uint64),        # indirect transfers the native jump cache resolved
        ("jc_misses", ctypes.c_uint64),      # indirect transfers that left for Python (MISS)
        # Runtime data native code reaches through the CPU (no baked addresses).
        ("mem_base", ctypes.c_uint64),       # host address of guest address 0
        ("mem_perms", ctypes.c_uint64),      # host address of the page-permission table (+1 entry, 0)
        ("mem_pages", ctypes.c_uint64),      # number of guest pages
        ("jmp_cache", ctypes.c_uint64),      # host address of the native jump cache
    ]

    # Translated code compares icount with `limit` alone at a block entry; these keep it equal to
    # budget, or 0 while exit_request is set. Other threads only ever call request_exit: each
    # writer on the guest's thread reads exit_request again after writing limit, so a request
    # made meanwhile is never lost (at worst limit is 0 with no request: a spurious INTERRUPT).
    def set_budget(self, budget: int) -> None:
        self.budget = self.limit = budget
        if self.exit_request:
            self.limit = 0

    def request_exit(self) -> None:
        """Stop translated code at its next block entry (INTERRUPT); safe from any thread."""
        self.exit_request = 1
        self.limit = 0

    def clear_exit_request(self) -> None:
        self.exit_request = 0
        self.set_budget(self.budget)


def new_cpu() -> CPUState:
    """A CPU as Linux starts a process: flags clear, x87 CW 0x037F, MXCSR 0x1F80."""
    cpu = CPUState()
    cpu.mxcsr = 0x1F80
    cpu.fpu_cw = 0x037F
    cpu.fpu_tag = 0xFFFF
    cpu.cc_op = 0            # CCOp.EFLAGS with cc_src = 0: all arithmetic flags clear
    cpu.eflags = FLAGS_FIXED | IF
    cpu.set_budget((1 << 64) - 1)
    return cpu


def _slots() -> dict[str, tuple[int, Ty]]:
    """Guest-state slots the IR may get/put: name -> (byte offset, type)."""
    slots = {}
    for name, ctype in CPUState._fields_:
        if ctype in (ctypes.c_uint64, ctypes.c_uint32, ctypes.c_uint16):
            slots[name] = (getattr(CPUState, name).offset, Ty.of_bits(8 * ctypes.sizeof(ctype)))
    xmm = CPUState.xmm.offset
    for i in range(16):
        slots[f"xmm{i}_lo"] = (xmm + 16 * i, Ty.I64)
        slots[f"xmm{i}_hi"] = (xmm + 16 * i + 8, Ty.I64)
    st = CPUState.st.offset
    for i in range(8):        # ST(i): kept in stack order, so push/pop move values between slots
        slots[f"st{i}"] = (st + 16 * i, Ty.I128)
    return slots


SLOTS: dict[str, tuple[int, Ty]] = _slots()
