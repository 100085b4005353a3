"""Oracle harness: run the same bytes on the host CPU and under each dbt engine.

check() compares every GPR, the defined flags (undefined_flags.py decides
which) and the data region, and raises AssertionError with a readable diff.
It never skips: if dbt.api cannot be imported, every check() fails.
"""
from __future__ import annotations

import functools

import capstone

from .native import (CODE_ADDR, CODE_SIZE, DATA_ADDR, DATA_SIZE, DEFAULT_RSP, GPRS, MASK64,
                     MachineState, assemble, complete_regs, run_native)
from .undefined_flags import AF, CF, DF, FLAG_NAMES, OF, PF, SF, ZF, sequence_undefined_mask

ARITH_FLAGS = CF | PF | AF | ZF | SF | OF
COMPARED_FLAGS = ARITH_FLAGS | DF
MAX_INSNS = 100000
_SHOWN_BYTES = 8


def default_regs() -> dict[str, int]:
    """Fixed, distinct, non-zero values with bits everywhere; rsp = DEFAULT_RSP."""
    return {name: DEFAULT_RSP if name == "rsp" else (0x9E3779B97F4A7C15 * (i + 1)) & MASK64
            for i, name in enumerate(GPRS)}


@functools.lru_cache(maxsize=1)
def default_data() -> bytes:
    """Deterministic non-repeating-looking pattern for the data region."""
    return bytes((i * 37 + (i >> 8) * 11 + 5) & 0xFF for i in range(DATA_SIZE))


def flag_names(value: int) -> str:
    names = [name for name, bit in FLAG_NAMES.items() if value & bit]
    return " ".join(names) if names else "-"


def run_guest(engine: str, code: bytes, regs: dict[str, int], rflags: int,
              data: bytes) -> MachineState:
    """Run `code` under dbt's `engine` from CODE_ADDR until it falls off its end."""
    from dbt.api import Emulator  # imported here so test_native.py runs without dbt

    regs = complete_regs(regs)
    emu = Emulator(engine=engine)
    emu.map(CODE_ADDR, CODE_SIZE, perms="rwx")
    emu.map(DATA_ADDR, DATA_SIZE, perms="rw")
    emu.write(CODE_ADDR, code + b"\xcc" * (CODE_SIZE - len(code)))
    emu.write(DATA_ADDR, data)
    for name in GPRS:
        emu.reg_write(name, regs[name])
    emu.reg_write("rip", CODE_ADDR)
    emu.rflags = (rflags & COMPARED_FLAGS) | 0x2
    end = CODE_ADDR + len(code)
    info = emu.run(start=CODE_ADDR, until=end, max_insns=MAX_INSNS)
    if info.reason != "until":
        raise AssertionError(f"engine {engine!r} stopped with reason {info.reason!r} at rip "
                             f"{emu.reg_read('rip'):#x} instead of reaching {end:#x}: {info!r}")
    return MachineState(regs={name: emu.reg_read(name) for name in GPRS},
                        rflags=emu.rflags, data=emu.read(DATA_ADDR, DATA_SIZE))


def disassemble(code: bytes, addr: int = CODE_ADDR) -> str:
    cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    return "; ".join(f"{i.mnemonic} {i.op_str}".strip() for i in cs.disasm(code, addr))


def diff_states(native: MachineState, guest: MachineState, flag_mask: int) -> list[str]:
    """Readable differences, one line each; empty when the states agree."""
    lines = [f"  {name}: native {native.regs[name]:#018x}  engine {guest.regs[name]:#018x}"
             for name in GPRS if native.regs[name] != guest.regs[name]]
    differ = (native.rflags ^ guest.rflags) & flag_mask
    if differ:
        lines.append(f"  rflags: native {flag_names(native.rflags & flag_mask)}  engine "
                     f"{flag_names(guest.rflags & flag_mask)}  (differ: {flag_names(differ)})")
    if native.data != guest.data:
        offsets = [i for i, (a, b) in enumerate(zip(native.data, guest.data)) if a != b]
        shown = offsets[:_SHOWN_BYTES]
        lines.append(f"  data: {len(offsets)} byte(s) differ, first {len(shown)}:")
        lines += [f"    [{DATA_ADDR + off:#x}] (data+{off:#x}): native {native.data[off]:#04x}"
                  f"  engine {guest.data[off]:#04x}" for off in shown]
    return lines


def check(asm_or_bytes: str | bytes, regs: dict[str, int] | None = None, rflags: int = 0x2,
          data: bytes | None = None, engines: tuple[str, ...] = ("jit", "interp")) -> MachineState:
    """Run natively and under each engine; raise AssertionError on any difference.

    Registers not given get default_regs(); data shorter than DATA_SIZE is
    completed with default_data(). Returns the native state.
    """
    code = assemble(asm_or_bytes) if isinstance(asm_or_bytes, str) else bytes(asm_or_bytes)
    text = asm_or_bytes if isinstance(asm_or_bytes, str) else disassemble(code)
    full_regs = complete_regs(default_regs() | dict(regs or {}))
    base = default_data()
    data = base if data is None else bytes(data) + base[len(data):]
    if len(data) != DATA_SIZE:
        raise ValueError(f"data is {len(data):#x} bytes, more than DATA_SIZE {DATA_SIZE:#x}")
    native = run_native(code, full_regs, rflags, data)
    undefined = sequence_undefined_mask(code, CODE_ADDR, full_regs)
    flag_mask = COMPARED_FLAGS & ~undefined
    failures = []
    for engine in engines:
        try:
            guest = run_guest(engine, code, full_regs, rflags, data)
        except Exception as exc:
            exc.add_note(f"while running engine {engine!r} on: {text}")
            raise
        lines = diff_states(native, guest, flag_mask)
        if lines:
            failures.append(f"engine {engine!r} differs from native:\n" + "\n".join(lines))
    if failures:
        given = ", ".join(f"{k}={v:#x}" for k, v in (regs or {}).items()) or "defaults"
        raise AssertionError(
            f"oracle mismatch for: {text}\n  bytes: {code.hex()}\n"
            f"  inputs: regs {given}; rflags {flag_names(rflags & COMPARED_FLAGS)}\n"
            f"  undefined flags ignored: {flag_names(undefined)}\n" + "\n".join(failures))
    return native
