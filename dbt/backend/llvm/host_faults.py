"""Host faults of translated code's guest accesses: where the SIGSEGV handler continues.

A guest load or store of its own is one host instruction on native code's view
of guest memory, whose host protections refuse what the page's permissions do
not let native code do without asking (dbt/runtime/memory.py). Beside each such
instruction the lowering (lower.py faulting_access) emits an entry in section
FAULTS_SECTION: its address and the address of that access's exact check (a call
of @dbt_guest_access, then the access or a fault landing). The linker hands each
loaded object's entries to the process's FaultTable; @dbt_on_fault, installed
for SIGSEGV, looks the faulting instruction up there and continues at its check,
with every register as the instruction left it (it changed none). A fault at any
other instruction is not dbt's to mend: the handler puts back the handler that
was there before (Python's faulthandler, or the default) and returns, so the
fault happens again and is reported as it would have been without dbt; a
SIGSEGV sent by a process (kill) is raised again the same way.

The table is open addressing, [mask, (pc, check) * (mask + 1)], read by the
handler without a lock: an entry's check is written before its pc, and a bigger
table is filled before it is published, and the old one freed once no handler
is between reading @dbt_fault_table and done (@dbt_fault_readers, counted
before the read). Code that goes away (an engine's arena) leaves its
entries FORGOTTEN, so that code loaded later at the same addresses never finds them.
"""
import array
import ctypes
import threading

FAULTS_SECTION = ".dbt_faults"
SIGSEGV = 11
SA_SIGINFO, SA_ONSTACK = 4, 0x08000000
SIGACTION = 152                   # bytes of glibc's struct sigaction on x86-64
SA_FLAGS_OFFSET = 136             # its sa_flags (after the handler and a 128-byte mask)
UC_RIP = 168                      # ucontext_t's uc_mcontext.gregs[REG_RIP]
SI_CODE = 8                       # siginfo_t's si_code: > 0 for a fault, <= 0 for a signal sent (kill, tgkill)
GOLDEN = 0x9E3779B97F4A7C15       # Fibonacci hashing: slot = (pc * GOLDEN mod 2**64) >> 32, masked
MIN_SLOTS = 1 << 12
FORGOTTEN = 1                     # a slot's pc once its code is gone (no instruction is at address 1)
MASK64 = (1 << 64) - 1

_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.sigaction.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


def handler_module() -> str:
    """LLVM IR of @dbt_on_fault(sig, info, ucontext), @dbt_fault_table (the published table),
    @dbt_fault_readers (handlers between reading it and done with it) and @dbt_fault_old
    (the handler it replaced), for the runtime helpers' module."""
    return "\n".join([
        "@dbt_fault_table = global ptr null, align 8",
        "@dbt_fault_readers = global i64 0, align 8",
        f"@dbt_fault_old = global [{SIGACTION} x i8] zeroinitializer, align 8",
        "declare i32 @sigaction(i32, ptr, ptr)",
        "declare i32 @raise(i32)",
        "define void @dbt_on_fault(i32 %sig, ptr %info, ptr %uc) {",
        "entry:",
        f"  %code.p = getelementptr i8, ptr %info, i64 {SI_CODE}",
        "  %code = load i32, ptr %code.p",
        "  %fault = icmp sgt i32 %code, 0",
        "  br i1 %fault, label %faulted, label %sent",
        "sent:",
        "  %restored = call i32 @sigaction(i32 %sig, ptr @dbt_fault_old, ptr null)",
        "  %raised = call i32 @raise(i32 %sig)",
        "  ret void",
        "faulted:",
        f"  %rip.p = getelementptr i8, ptr %uc, i64 {UC_RIP}",
        "  %rip = load i64, ptr %rip.p",
        "  %entering = atomicrmw add ptr @dbt_fault_readers, i64 1 seq_cst",
        "  %table = load atomic ptr, ptr @dbt_fault_table seq_cst, align 8",
        "  %none = icmp eq ptr %table, null",
        "  br i1 %none, label %other, label %look",
        "look:",
        "  %mask = load i64, ptr %table",
        f"  %product = mul i64 %rip, {GOLDEN - (1 << 64)}",
        "  %start = lshr i64 %product, 32",
        "  br label %probe",
        "probe:",
        "  %at = phi i64 [ %start, %look ], [ %next, %again ]",
        "  %slot = and i64 %at, %mask",
        "  %twice = shl i64 %slot, 1",
        "  %index = add i64 %twice, 1",
        "  %key.p = getelementptr i64, ptr %table, i64 %index",
        "  %key = load atomic i64, ptr %key.p acquire, align 8",
        "  %hit = icmp eq i64 %key, %rip",
        "  br i1 %hit, label %found, label %miss",
        "miss:",
        "  %empty = icmp eq i64 %key, 0",
        "  br i1 %empty, label %other, label %again",
        "again:",
        "  %next = add i64 %slot, 1",
        "  br label %probe",
        "found:",
        "  %check.p = getelementptr i64, ptr %key.p, i64 1",
        "  %check = load i64, ptr %check.p",
        "  store i64 %check, ptr %rip.p",
        "  %leaving = atomicrmw sub ptr @dbt_fault_readers, i64 1 seq_cst",
        "  ret void",
        "other:",
        "  %left = atomicrmw sub ptr @dbt_fault_readers, i64 1 seq_cst",
        "  %ignored = call i32 @sigaction(i32 %sig, ptr @dbt_fault_old, ptr null)",
        "  ret void",
        "}"])


def entries(image: bytes | bytearray, offset: int, size: int) -> list[tuple[int, int]]:
    """The (faulting pc, check) pairs of a relocated FAULTS_SECTION."""
    words = memoryview(bytes(image[offset:offset + size])).cast("Q")
    return list(zip(words[0::2], words[1::2]))


class FaultTable:
    """The process's faulting instructions, published for @dbt_on_fault (module docstring).
    `table`, `readers`, `old`, `handler`: the addresses of @dbt_fault_table, @dbt_fault_readers,
    @dbt_fault_old and @dbt_on_fault in the loaded runtime helpers."""

    def __init__(self, table: int, readers: int, old: int, handler: int):
        self.published = ctypes.c_uint64.from_address(table)
        self.readers = ctypes.c_int64.from_address(readers)
        self.old, self.handler = old, handler
        self.checks: dict[int, int] = {}
        self.table = None                       # the table published
        self.used = 0                           # slots of the last holding a pc or FORGOTTEN
        self.lock = threading.Lock()

    def add(self, pairs: list[tuple[int, int]]) -> None:
        with self.lock:
            self.checks.update(pairs)
            if self.table is None or 2 * (self.used + len(pairs)) > self.table[0]:
                self._publish()
            else:
                self._insert(self.table, pairs)

    def forget(self, start: int, end: int) -> None:
        """Drop the entries of instructions in [start, end) (code about to be unmapped): their
        slots hold FORGOTTEN, which no pc is, until the next table."""
        with self.lock:
            gone = [pc for pc in self.checks if start <= pc < end]
            for pc in gone:
                del self.checks[pc]
                self.table[1 + 2 * self._slot(self.table, pc)] = FORGOTTEN

    def _publish(self) -> None:
        slots = MIN_SLOTS
        while slots < 4 * len(self.checks):
            slots *= 2
        table = array.array("Q", bytes(8 * (1 + 2 * slots)))   # never resized: the handler reads it in place
        table[0] = slots - 1
        self.used = 0
        self._insert(table, self.checks.items())
        self.published.value = table.buffer_info()[0]
        while self.readers.value:               # a handler may have read the old table: let it finish
            pass
        self.table = table                      # (the old one is freed)

    @staticmethod
    def _slot(table, pc: int) -> int:
        """pc's slot in a table: where it is, else the empty one where it would go."""
        mask = table[0]
        slot = ((pc * GOLDEN) & MASK64) >> 32 & mask
        while table[1 + 2 * slot] not in (0, pc):
            slot = (slot + 1) & mask
        return slot

    def _insert(self, table, pairs) -> None:
        for pc, check in pairs:
            slot = self._slot(table, pc)
            self.used += table[1 + 2 * slot] == 0
            table[2 + 2 * slot] = check
            table[1 + 2 * slot] = pc

    def install(self) -> None:
        """Make @dbt_on_fault the SIGSEGV handler, unless it is; the one it replaces is kept
        in @dbt_fault_old (another handler installed since, such as faulthandler's, is chained
        to it the same way)."""
        current = (ctypes.c_uint64 * (SIGACTION // 8))()
        if _LIBC.sigaction(SIGSEGV, None, current):
            raise OSError(ctypes.get_errno(), "sigaction(SIGSEGV)")
        if current[0] == self.handler:
            return
        action = (ctypes.c_uint64 * (SIGACTION // 8))()
        action[0] = self.handler
        action[SA_FLAGS_OFFSET // 8] = SA_SIGINFO | SA_ONSTACK
        if _LIBC.sigaction(SIGSEGV, action, self.old):
            raise OSError(ctypes.get_errno(), "sigaction(SIGSEGV)")
