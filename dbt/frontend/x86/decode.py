"""Decoding guest bytes with capstone, and the register table the lifters use.

Capstone is the only decoder; this module is the only place that configures
it. A register is described as (guest-state slot, bit shift, type): AH is
("rax", 8, I8), R9D is ("r9", 0, I32).
"""
import capstone
from capstone import x86_const as X

from dbt.ir.ops import Ty


GPR64 = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
         "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
_LEGACY = {"rax": "a", "rcx": "c", "rdx": "d", "rbx": "b"}
_INDEX = {"rsp": "sp", "rbp": "bp", "rsi": "si", "rdi": "di"}


def _register_table() -> dict[int, tuple[str, int, Ty]]:
    names: dict[str, tuple[str, int, Ty]] = {}
    for full in GPR64:
        names[full] = (full, 0, Ty.I64)
        if full in _LEGACY:
            x = _LEGACY[full]
            names.update({f"e{x}x": (full, 0, Ty.I32), f"{x}x": (full, 0, Ty.I16),
                          f"{x}l": (full, 0, Ty.I8), f"{x}h": (full, 8, Ty.I8)})
        elif full in _INDEX:
            x = _INDEX[full]
            names.update({f"e{x}": (full, 0, Ty.I32), x: (full, 0, Ty.I16), f"{x}l": (full, 0, Ty.I8)})
        else:
            names.update({f"{full}d": (full, 0, Ty.I32), f"{full}w": (full, 0, Ty.I16),
                          f"{full}b": (full, 0, Ty.I8)})
    table = {}
    for attr in dir(X):
        if attr.startswith("X86_REG_"):
            name = attr[len("X86_REG_"):].lower()
            if name in names:
                table[getattr(X, attr)] = names[name]
    return table


REGS = _register_table()
XMM_REGS = {getattr(X, f"X86_REG_XMM{i}"): i for i in range(16)}     # capstone id -> XMM number


def new_decoder() -> capstone.Cs:
    cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    cs.detail = True
    return cs


def insn_text(insn) -> str:
    return f"{insn.mnemonic} {insn.op_str}".strip()
