"""The one table of RFLAGS bits that x86-64 leaves undefined, per Intel SDM vol. 2.

The oracle compares a flag only if the architecture defines it: a real CPU may
leave anything in an undefined flag, so the translator is free to as well.
This module must never hide a *defined* flag; when it cannot tell (a shift
count in a register it cannot follow) it masks the worst case instead.

Instructions invalid in 64-bit mode (aaa, aas, aam, aad, daa, das) are left
out. Undefined *results* (bsf/bsr of zero, 16-bit shld/shrd by more than 16)
cannot be masked here: tests must not produce them.
"""
from __future__ import annotations

import functools
import types
from collections.abc import Mapping

import capstone
from capstone import x86_const

CF, PF, AF, ZF, SF, DF, OF = (1 << 0, 1 << 2, 1 << 4, 1 << 6, 1 << 7, 1 << 10, 1 << 11)
FLAG_NAMES = types.MappingProxyType(
    {"CF": CF, "PF": PF, "AF": AF, "ZF": ZF, "SF": SF, "DF": DF, "OF": OF})
STATUS_FLAGS = CF | PF | AF | ZF | SF | OF

# Mnemonic -> flags left undefined whatever the operands (SDM "Flags Affected").
_FIXED = types.MappingProxyType({
    # Logic: OF = CF = 0, SF ZF PF from the result, AF undefined.
    "and": AF, "or": AF, "xor": AF, "test": AF,
    # CF = OF = (upper half significant); the rest undefined.
    "mul": SF | ZF | AF | PF, "imul": SF | ZF | AF | PF,
    "div": STATUS_FLAGS, "idiv": STATUS_FLAGS,
    # ZF = (source == 0).
    "bsf": CF | OF | SF | AF | PF, "bsr": CF | OF | SF | AF | PF,
    # CF = selected bit, ZF unaffected.
    "bt": OF | SF | AF | PF, "bts": OF | SF | AF | PF,
    "btr": OF | SF | AF | PF, "btc": OF | SF | AF | PF,
    # CF = (source == 0), ZF = (result == 0).
    "lzcnt": OF | SF | AF | PF, "tzcnt": OF | SF | AF | PF,
    # popcnt: ZF = (source == 0), all others cleared: fully defined.
    "popcnt": 0,
    # BMI1/BMI2.
    "andn": AF | PF, "bextr": SF | AF | PF, "bzhi": AF | PF,
    "blsi": AF | PF, "blsmsk": AF | PF, "blsr": AF | PF,
})
# Count-dependent families (count masked to 5 bits, 6 for 64-bit operands).
# Masked count 0 leaves every flag unchanged: that is defined.
_SHIFTS = frozenset({"shl", "sal", "shr", "sar"})  # AF; OF if count != 1
_CF_PAST_WIDTH = frozenset({"shl", "sal", "shr"})  # CF if count >= width
_ROTATES = frozenset({"rol", "ror", "rcl", "rcr"})  # OF if count != 1
_DOUBLE_SHIFTS = frozenset({"shld", "shrd"})  # AF; OF if count != 1; all if count > width
COUNTED = _SHIFTS | _ROTATES | _DOUBLE_SHIFTS
_PREFIXES = frozenset({"lock", "rep", "repe", "repz", "repne", "repnz",
                       "bnd", "notrack", "xacquire", "xrelease", "data16"})


def base_mnemonic(mnemonic: str) -> str:
    """'lock add' -> 'add', 'repe cmpsb' -> 'cmpsb'."""
    words = [w for w in mnemonic.lower().split() if w not in _PREFIXES]
    return words[-1] if words else ""


def undefined_mask(mnemonic: str, count: int | None = None, width: int | None = None) -> int:
    """RFLAGS bits left undefined by one instruction.

    For the count-dependent families, `count` is the count operand (masked here
    by `width`, the destination size in bits; with width None it is taken as
    already masked) and None means "unknown": the worst case over all non-zero
    counts. Unlisted mnemonics define every flag they write.
    """
    mn = base_mnemonic(mnemonic)
    if mn not in COUNTED:
        return _FIXED.get(mn, 0)
    if count is None:
        return _worst_counted(mn, width)
    if width is not None:
        count &= 0x3F if width == 64 else 0x1F
    if count == 0:
        return 0
    over_one = OF if count != 1 else 0
    if mn in _ROTATES:
        return over_one
    if mn in _DOUBLE_SHIFTS:
        return STATUS_FLAGS if width is not None and count > width else AF | over_one
    past_width = count >= (width if width is not None else 8)
    return AF | over_one | (CF if mn in _CF_PAST_WIDTH and past_width else 0)


def _worst_counted(mn: str, width: int | None) -> int:
    if mn in _ROTATES:
        return OF
    small = width is None or width <= 16
    if mn in _DOUBLE_SHIFTS:
        return STATUS_FLAGS if small else AF | OF
    return AF | OF | (CF if mn in _CF_PAST_WIDTH and small else 0)


@functools.lru_cache(maxsize=1)
def _capstone_eflag_writes() -> Mapping[int, int]:
    """capstone X86_EFLAGS_{MODIFY,RESET,SET,UNDEFINED,PRIOR}_xx -> RFLAGS bit."""
    out = {}
    for name in dir(x86_const):
        kind, _, flag = name.removeprefix("X86_EFLAGS_").rpartition("_")
        flag = "OF" if flag == "0F" else flag  # capstone spells RESET_OF "RESET_0F"
        writing = kind in {"MODIFY", "RESET", "SET", "UNDEFINED", "PRIOR"}
        if name.startswith("X86_EFLAGS_") and writing and flag in FLAG_NAMES and flag != "DF":
            out[getattr(x86_const, name)] = FLAG_NAMES[flag]
    return types.MappingProxyType(out)


@functools.lru_cache(maxsize=1)
def _disassembler() -> capstone.Cs:
    cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    cs.detail = True
    return cs


_RCX_ALIASES = frozenset({"rcx", "ecx", "cx", "cl", "ch"})
_LEAVES = frozenset({x86_const.X86_GRP_CALL, x86_const.X86_GRP_RET, x86_const.X86_GRP_INT,
                     x86_const.X86_GRP_IRET})
_BRANCHES = frozenset({x86_const.X86_GRP_JUMP, x86_const.X86_GRP_BRANCH_RELATIVE})


def _writes_rcx(insn) -> bool:
    return any(insn.reg_name(r) in _RCX_ALIASES for r in insn.regs_access()[1])


def _effect(insn, rcx: int | None) -> tuple[int, int, bool]:
    """(flags written, flags left undefined, may write nothing) for one instruction."""
    mn = base_mnemonic(insn.mnemonic)
    writes = 0
    for bit, flag in _capstone_eflag_writes().items():
        if insn.eflags & bit:
            writes |= flag
    if mn not in COUNTED:
        undef = undefined_mask(mn)
        # rep cmps/scas with rcx == 0 writes nothing.
        return writes | undef, undef, insn.mnemonic.split()[0].startswith("rep")
    width = insn.operands[0].size * 8
    last = insn.operands[-1]
    if len(insn.operands) == 1:  # implicit count of 1 (d0/d1 forms)
        count = 1
    elif last.type == x86_const.X86_OP_IMM:
        count = last.imm
    else:  # cl
        count = None if rcx is None else rcx & 0xFF
    undef = undefined_mask(mn, count, width)
    if count is None:
        return writes | undef, undef, True
    masked = count & (0x3F if width == 64 else 0x1F)
    return (writes | undef, undef, False) if masked else (0, 0, True)


def _successors(insns, index: dict[int, int], end: int) -> list[list[int]] | None:
    """Successor indices (len(insns) = falling off the end), None if not followable."""
    succ = []
    for i, insn in enumerate(insns):
        groups = set(insn.groups)
        nxt = [i + 1]
        if groups & _LEAVES:
            return None
        if groups & _BRANCHES:  # jmp, jcc, loop*, jrcxz
            op = insn.operands[0] if insn.operands else None
            if op is None or op.type != x86_const.X86_OP_IMM:
                return None
            target = len(insns) if op.imm == end else index.get(op.imm)
            if target is None:
                return None
            nxt = [target] if base_mnemonic(insn.mnemonic) == "jmp" else [i + 1, target]
        succ.append(nxt)
    return succ


def sequence_undefined_mask(code: bytes, addr: int, regs: Mapping[str, int] | None = None) -> int:
    """RFLAGS bits undefined after running `code` at `addr` until it falls off its end.

    A flag is masked if any instruction that can be the last to write it left
    it undefined. Direct jumps are followed; calls, returns and indirect
    jumps make every undefined flag of the sequence masked. A shift by cl
    uses regs['rcx'] when no instruction of the sequence writes rcx.
    """
    insns = list(_disassembler().disasm(code, addr))
    rcx = None
    if regs is not None and "rcx" in regs and not any(_writes_rcx(i) for i in insns):
        rcx = regs["rcx"]
    effects = [_effect(i, rcx) for i in insns]
    index = {insn.address: i for i, insn in enumerate(insns)}
    succ = _successors(insns, index, addr + len(code))
    if succ is None or sum(i.size for i in insns) != len(code):
        mask = 0
        for _writes, undef, _maybe in effects:
            mask |= undef
        return mask
    preds: list[list[int]] = [[] for _ in range(len(insns) + 1)]
    for i, targets in enumerate(succ):
        for t in targets:
            preds[t].append(i)
    mask = 0
    for flag in FLAG_NAMES.values():
        if flag != DF and _last_writer_leaves_undefined(flag, preds, effects, len(insns)):
            mask |= flag
    return mask


def _last_writer_leaves_undefined(flag: int, preds, effects, end: int) -> bool:
    seen, todo = set(), list(preds[end])
    while todo:
        i = todo.pop()
        if i in seen:
            continue
        seen.add(i)
        writes, undef, maybe = effects[i]
        if undef & flag:
            return True
        if maybe or not writes & flag:
            todo.extend(preds[i])
    return False
