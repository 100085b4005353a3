"""Run x86-64 code on the host CPU: the oracle side of the instruction tests.

Test code is copied to CODE_ADDR and its data to DATA_ADDR (fixed host
mappings, the same addresses the guest uses), entered from a small keystone
assembled trampoline with every GPR and the flags loaded, and must fall off
its end into an epilogue that records the state and restores the host's.
There is no protection here: code that faults, loops forever or jumps out of
its bytes kills or hangs the test process. Feed it only sequences that run
on their own.
"""
from __future__ import annotations

import ctypes
import functools
import signal
import threading
from dataclasses import dataclass

from keystone import KS_ARCH_X86, KS_MODE_64, Ks

from .undefined_flags import DF, STATUS_FLAGS

CODE_ADDR = 0x10000000
CODE_SIZE = 0x10000
DATA_ADDR = 0x20000000
DATA_SIZE = 0x10000
DEFAULT_RSP = DATA_ADDR + DATA_SIZE - 0x100
GPRS = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
        "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
LOADABLE_FLAGS = STATUS_FLAGS | DF  # TF, IF, AC, ... are never loaded
MASK64 = (1 << 64) - 1

_PAGE = 0x1000
_PROT_R, _PROT_W, _PROT_X = 1, 2, 4
_MAP_PRIVATE, _MAP_ANONYMOUS, _MAP_FIXED_NOREPLACE = 0x02, 0x20, 0x100000
_MAP_FAILED = MASK64
_ASYNC_SIGNALS = frozenset(signal.valid_signals()) - {
    signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGTRAP}
_JMP_ABS = bytes.fromhex("ff2500000000")  # jmp qword ptr [rip]; the target follows


@dataclass
class MachineState:
    regs: dict[str, int]  # all 16 GPRs, unsigned 64-bit
    rflags: int  # full RFLAGS as read by pushfq
    data: bytes  # the DATA_SIZE bytes of the data region


class _Block(ctypes.Structure):
    """Trampoline <-> Python exchange area; its last page bytes are a private stack."""
    _fields_ = [("in_regs", ctypes.c_uint64 * 16), ("in_rflags", ctypes.c_uint64),
                ("out_regs", ctypes.c_uint64 * 16), ("out_rflags", ctypes.c_uint64),
                ("host_rsp", ctypes.c_uint64), ("host_mxcsr", ctypes.c_uint32),
                ("host_fcw", ctypes.c_uint16)]


@functools.lru_cache(maxsize=1)
def _keystone() -> Ks:
    return Ks(KS_ARCH_X86, KS_MODE_64)


def assemble(asm: str, addr: int = CODE_ADDR) -> bytes:
    """Intel-syntax `asm` (';' or newline separated, no '#' comments) at `addr`."""
    encoding, _count = _keystone().asm(asm, addr)
    if not encoding and asm.strip():
        raise ValueError(f"keystone produced no bytes for {asm!r}")
    return bytes(encoding or b"")


def _trampoline_source(block: int) -> tuple[str, str]:
    """(entry, epilogue) assembly; both address the block absolutely."""
    off = {name: getattr(_Block, name).offset for name, _ in _Block._fields_}
    stack_top = _PAGE - 16
    callee_saved = ("rbx", "rbp", "r12", "r13", "r14", "r15")
    entry = [f"push {r}" for r in callee_saved] + [
        f"mov rax, {block:#x}",
        f"mov [rax + {off['host_rsp']}], rsp",
        f"stmxcsr dword ptr [rax + {off['host_mxcsr']}]",
        f"fnstcw word ptr [rax + {off['host_fcw']}]",
        f"lea rsp, [rax + {stack_top}]",  # private stack: the test stack stays untouched
        f"push qword ptr [rax + {off['in_rflags']}]",
        "popfq",
    ] + [f"mov {r}, [rax + {off['in_regs'] + 8 * i}]" for i, r in enumerate(GPRS) if r != "rax"] + [
        f"movabs rax, [{block + off['in_regs']:#x}]",
    ]  # followed by an absolute jump to CODE_ADDR
    epilogue = [f"movabs [{block + off['out_regs']:#x}], rax", f"mov rax, {block:#x}"] + [
        f"mov [rax + {off['out_regs'] + 8 * i}], {r}" for i, r in enumerate(GPRS) if r != "rax"
    ] + [
        f"lea rsp, [rax + {stack_top}]",
        "pushfq",
        f"pop qword ptr [rax + {off['out_rflags']}]",
        "cld",
        "fninit",
        f"fldcw word ptr [rax + {off['host_fcw']}]",
        f"ldmxcsr dword ptr [rax + {off['host_mxcsr']}]",
        f"mov rsp, [rax + {off['host_rsp']}]",
    ] + [f"pop {r}" for r in reversed(callee_saved)] + ["ret"]
    return "; ".join(entry), "; ".join(epilogue)


class NativeRunner:
    """Owns the fixed CODE/DATA mappings and the trampoline; one per process."""

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._libc.mmap.restype = ctypes.c_void_p
        self._libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                                    ctypes.c_int, ctypes.c_int, ctypes.c_long]
        self._libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        self._mmap(CODE_ADDR, CODE_SIZE, _PROT_R | _PROT_W | _PROT_X)
        self._mmap(DATA_ADDR, DATA_SIZE, _PROT_R | _PROT_W)
        text = self._mmap(0, 2 * _PAGE, _PROT_R | _PROT_W)
        self._block = _Block.from_address(text + _PAGE)
        entry_asm, epilogue_asm = _trampoline_source(text + _PAGE)
        entry = assemble(entry_asm, text) + _JMP_ABS + CODE_ADDR.to_bytes(8, "little")
        self._epilogue = text + 0x400
        host_flags_at = text + 0x800
        ctypes.memmove(text, entry, len(entry))
        epilogue = assemble(epilogue_asm, self._epilogue)
        ctypes.memmove(self._epilogue, epilogue, len(epilogue))
        host_flags = assemble("pushfq; pop rax; ret", host_flags_at)
        ctypes.memmove(host_flags_at, host_flags, len(host_flags))
        if self._libc.mprotect(text, _PAGE, _PROT_R | _PROT_X) != 0:
            raise OSError(ctypes.get_errno(), "mprotect of the trampoline failed")
        self._enter = ctypes.CFUNCTYPE(None)(text)
        self._host_rflags = ctypes.CFUNCTYPE(ctypes.c_uint64)(host_flags_at)
        self._lock = threading.Lock()

    def _mmap(self, addr: int, size: int, prot: int) -> int:
        flags = _MAP_PRIVATE | _MAP_ANONYMOUS | (_MAP_FIXED_NOREPLACE if addr else 0)
        got = self._libc.mmap(addr, size, prot, flags, -1, 0)
        if got is None or got == _MAP_FAILED or (addr and got != addr):
            hint = " (already mapped: is this module imported under two names?)" if addr else ""
            raise OSError(ctypes.get_errno(),
                          f"cannot map {size:#x} bytes at {addr:#x}{hint}")
        return got

    def host_rflags(self) -> int:
        """RFLAGS of the host right now (to check the epilogue cleared DF)."""
        return self._host_rflags()

    def run(self, code: bytes, regs: dict[str, int], rflags: int, data: bytes) -> MachineState:
        stub = _JMP_ABS + self._epilogue.to_bytes(8, "little")
        if len(code) + len(stub) > CODE_SIZE or len(data) != DATA_SIZE:
            raise ValueError(f"code must fit in {CODE_SIZE:#x} bytes, data be {DATA_SIZE:#x}")
        with self._lock:
            ctypes.memset(CODE_ADDR, 0xCC, CODE_SIZE)  # int3 everywhere else
            ctypes.memmove(CODE_ADDR, code + stub, len(code) + len(stub))
            ctypes.memmove(DATA_ADDR, data, DATA_SIZE)
            for i, name in enumerate(GPRS):
                self._block.in_regs[i] = regs[name] & MASK64
            self._block.in_rflags = (rflags & LOADABLE_FLAGS) | 0x2
            # A signal arriving while rsp points into the data region would
            # push its frame there: hold asynchronous signals off for the run
            # (faults stay deliverable so faulthandler can report them).
            old = signal.pthread_sigmask(signal.SIG_BLOCK, _ASYNC_SIGNALS)
            try:
                self._enter()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, old)
            return MachineState(regs=dict(zip(GPRS, self._block.out_regs)),
                                rflags=self._block.out_rflags,
                                data=ctypes.string_at(DATA_ADDR, DATA_SIZE))


@functools.lru_cache(maxsize=1)
def native_runner() -> NativeRunner:
    return NativeRunner()


def complete_regs(regs: dict[str, int] | None) -> dict[str, int]:
    """All 16 GPRs: missing ones 0, rsp DEFAULT_RSP; unknown names are an error."""
    regs = dict(regs or {})
    unknown = set(regs) - set(GPRS)
    if unknown:
        raise ValueError(f"unknown registers {sorted(unknown)}; expected names from {GPRS}")
    return {name: regs.get(name, DEFAULT_RSP if name == "rsp" else 0) & MASK64 for name in GPRS}


def run_native(code: bytes, regs: dict[str, int], rflags: int, data: bytes) -> MachineState:
    """Run `code` on the host CPU; missing registers as in complete_regs()."""
    return native_runner().run(code, complete_regs(regs), rflags, data)
