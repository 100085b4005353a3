"""Operand names, edge values and code assembly shared by the integer oracle tests.

Everything here is a pure function of its arguments (random values come from
a fixed seed), so a failing case always reproduces. Nothing here knows what
dbt computes: expected values always come from the native run.
"""
from __future__ import annotations

import random

from .native import CODE_ADDR, MASK64, assemble

WIDTHS = (8, 16, 32, 64)
PTR = {8: "byte", 16: "word", 32: "dword", 64: "qword"}
CONDITIONS = ("o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g")
# Upper-bit filler for registers whose low part is the operand: a partial write
# that forgets to merge (or a 32-bit write that forgets to zero-extend) shows.
GARBAGE = 0xA5C3_96E1_5AD2_7B48

_LEGACY = {"rax": "a", "rcx": "c", "rdx": "d", "rbx": "b"}
_INDEX = {"rsp": "sp", "rbp": "bp", "rsi": "si", "rdi": "di"}


def mask(bits: int) -> int:
    return (1 << bits) - 1


def sign_bit(bits: int) -> int:
    return 1 << (bits - 1)


def sext(value: int, bits: int) -> int:
    """The low `bits` of value, sign-extended, as a Python int."""
    value &= mask(bits)
    return value - (1 << bits) if value & sign_bit(bits) else value


def reg(full: str, bits: int) -> str:
    """The `bits`-wide name of 64-bit register `full`: reg('r9', 16) == 'r9w'."""
    if bits == 64:
        return full
    if full in _LEGACY:
        x = _LEGACY[full]
        return {32: f"e{x}x", 16: f"{x}x", 8: f"{x}l"}[bits]
    if full in _INDEX:
        x = _INDEX[full]
        return {32: f"e{x}", 16: x, 8: f"{x}l"}[bits]
    return full + {32: "d", 16: "w", 8: "b"}[bits]


def low(value: int, bits: int, fill: int = GARBAGE) -> int:
    """A 64-bit register value whose low `bits` are `value` over `fill`."""
    return (fill & ~mask(bits) | value & mask(bits)) & MASK64


def edge_values(bits: int) -> list[int]:
    """0, 1, the sign boundaries, all-ones, a nibble carry and two fixed random values."""
    m, s = mask(bits), sign_bit(bits)
    rnd = random.Random(bits)
    return [0, 1, 0xF, s - 1, s, s + 1, m - 1, m, rnd.getrandbits(bits), rnd.getrandbits(bits)]


def edge_pairs(bits: int) -> list[tuple[int, int]]:
    """(a, b) operand pairs that reach every carry, borrow, overflow and AF case."""
    m, s = mask(bits), sign_bit(bits)
    rnd = random.Random(1000 + bits)
    r1, r2, r3 = (rnd.getrandbits(bits) for _ in range(3))
    return [(0, 0), (1, m), (s - 1, 1), (s, 1), (s, s), (m, m), (0, s), (0xF, 1),
            (0x10, 1), (s - 1, m), (0, 1), (r1, r2), (r3, r3)]


def assemble_parts(*parts: str | bytes, addr: int = CODE_ADDR) -> bytes:
    """Concatenate assembly strings and raw byte strings, each placed after the previous.

    Raw bytes are for encodings keystone will not produce (16-bit push imm,
    0x67 loop, the 0f 1f nop forms). Labels do not cross parts.
    """
    out = b""
    for part in parts:
        out += part if isinstance(part, bytes) else assemble(part, addr + len(out))
    return out


def run_dbt(engine: str, code: bytes, regs: dict[str, int], data: bytes | None = None,
            rflags: int = 0x2, icount: int = 0):
    """Run `code` at CODE_ADDR under `engine` until it falls off its end; return the Emulator.

    For what the oracle cannot compare (cpuid, rdtsc, instruction counts):
    tests read the Emulator's registers and `cpu.icount` themselves.
    """
    from dbt.api import Emulator

    from .native import CODE_SIZE, DATA_ADDR, DATA_SIZE, DEFAULT_RSP, GPRS
    emu = Emulator(engine=engine)
    emu.map(CODE_ADDR, CODE_SIZE, perms="rwx")
    emu.map(DATA_ADDR, DATA_SIZE, perms="rw")
    emu.write(CODE_ADDR, code + b"\xcc" * (CODE_SIZE - len(code)))
    if data is not None:
        emu.write(DATA_ADDR, data)
    for name in GPRS:
        emu.reg_write(name, regs.get(name, DEFAULT_RSP if name == "rsp" else 0))
    emu.rflags = rflags
    emu.cpu.icount = icount
    end = CODE_ADDR + len(code)
    info = emu.run(start=CODE_ADDR, until=end, max_insns=100000)
    assert info.reason == "until", f"{engine}: stopped with {info!r} at {emu.reg_read('rip'):#x}"
    return emu


class Batch:
    """Several small cases in one check(): instructions, data slots, and a legend for failures.

    Each check() pays a fixed cost (two engines set up, a JIT runtime
    compiled) far above the cost of one more instruction, so tests batch
    cases; the legend maps each data byte the batch uses back to its case,
    and is attached to a failing check's AssertionError.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.data = bytearray()
        self.legend: list[str] = []

    def slot(self, value: int, size: int, what: str) -> int:
        """Reserve `size` bytes of data holding `value`; return their offset from DATA_ADDR."""
        offset = len(self.data)
        self.data += (value & mask(8 * size)).to_bytes(size, "little")
        self.legend.append(f"data+{offset:#x}: {what}")
        return offset

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def capture(self, condition: str, what: str) -> None:
        """set<condition> into a fresh data byte."""
        offset = self.slot(0x5A, 1, f"set{condition} after {what}")
        self.lines.append(f"set{condition} byte ptr [rdi + {offset:#x}]")

    def run(self, regs: dict[str, int] | None = None, rflags: int = 0x2, head: str = ""):
        from .harness import check
        from .native import DATA_ADDR
        asm = "; ".join(([head] if head else []) + self.lines)
        try:
            return check(asm, regs={"rdi": DATA_ADDR} | dict(regs or {}), rflags=rflags,
                         data=bytes(self.data))
        except AssertionError as exc:
            exc.add_note("data legend:\n  " + "\n  ".join(self.legend))
            raise
