"""LiftContext: what a lifter sees. Operand load/store, addressing, stack, lazy flags.

Lifters only compute: they call `load`/`store` on capstone operands, then
`set_cc` to record flags. Partial-register rules live here once: 32-bit
writes zero-extend, 8/16-bit writes merge, AH..BH are bits 8-15.
"""
from dataclasses import dataclass

from capstone import x86_const as X

from dbt.frontend.x86.decode import REGS, XMM_REGS
from dbt.frontend.x86.flags import (ALL_FLAGS, COND_FLAGS, CCKind, cc_op_value,
                                    condition_from_flags, fast_condition, flag_bits, pack_flags)
from dbt.ir.builder import Builder
from dbt.ir.exits import SOFTWARE_INTERRUPT, ExitReason, Vector
from dbt.ir.ops import Ty, Value

WIDTH_TY = {1: Ty.I8, 2: Ty.I16, 4: Ty.I32, 8: Ty.I64, 16: Ty.I128}


class UnsupportedInstruction(Exception):
    """A valid instruction dbt cannot translate (reported like SIGILL, with its details)."""

    def __init__(self, pc: int, raw: bytes, text: str, why: str = ""):
        super().__init__(f"unsupported instruction at {pc:#x}: {raw.hex(' ')} ({text}){': ' + why if why else ''}")
        self.pc, self.raw, self.text, self.why = pc, raw, text, why


@dataclass
class LazyCC:
    """Flags state known at translate time: the op that last set the flags, as IR values."""
    kind: CCKind
    dst: Value
    src: Value
    src2: Value | None = None
    first: Value | None = None      # first operand of SUB, for direct compares


class LiftContext:
    def __init__(self, b: Builder, system: bool = False):
        self.b = b
        self.system = system            # system mode (CPL 0): privileged instructions allowed
        self.cc: LazyCC | None = None   # None: flags live in guest state (cc_op unknown)
        self.ended = False
        self.insn = None
        self.pc = self.next_pc = 0
        self.index = 0                  # position of the current instruction in the block

    def start(self, insn, index: int) -> None:
        self.insn, self.pc, self.next_pc = insn, insn.address, insn.address + insn.size
        self.index = index

    def unsupported(self, why: str = "") -> UnsupportedInstruction:
        insn = self.insn
        return UnsupportedInstruction(insn.address, bytes(insn.bytes), f"{insn.mnemonic} {insn.op_str}".strip(), why)

    # -- registers ------------------------------------------------------------
    def reg_info(self, reg: int) -> tuple[str, int, Ty]:
        info = REGS.get(reg)
        if info is None:
            raise self.unsupported(f"register {self.insn.reg_name(reg)}")
        return info

    def get_reg(self, reg: int) -> Value:
        slot, shift, ty = self.reg_info(reg)
        full = self.b.get(slot, Ty.I64)
        if shift:
            full = self.b.lshr(full, shift)
        return self.b.trunc(full, ty)

    def put_reg(self, reg: int, value: Value) -> None:
        slot, shift, ty = self.reg_info(reg)
        b = self.b
        value = b.resize(value, ty)
        if ty == Ty.I64:
            b.put(slot, value)
        elif ty == Ty.I32:
            b.put(slot, b.zext(value, Ty.I64))
        else:
            keep = ~(ty.mask << shift) & Ty.I64.mask
            old = b.and_(b.get(slot, Ty.I64), keep)
            new = b.zext(value, Ty.I64)
            b.put(slot, b.or_(old, b.shl(new, shift) if shift else new))

    # -- XMM registers (slots xmmN_lo / xmmN_hi) ------------------------------------
    def get_xmm(self, n: int) -> Value:
        b = self.b
        lo = b.zext(b.get(f"xmm{n}_lo", Ty.I64), Ty.I128)
        hi = b.zext(b.get(f"xmm{n}_hi", Ty.I64), Ty.I128)
        return b.or_(b.shl(hi, 64), lo)

    def put_xmm(self, n: int, value: Value) -> None:
        b = self.b
        value = b.resize(value, Ty.I128)
        b.put(f"xmm{n}_lo", b.trunc(value, Ty.I64))
        b.put(f"xmm{n}_hi", b.trunc(b.lshr(value, 64), Ty.I64))

    def xmm_index(self, operand_index: int) -> int | None:
        """The XMM number of operand `operand_index`, or None if it is not an XMM register."""
        op = self.insn.operands[operand_index]
        return XMM_REGS.get(op.reg) if op.type == X.X86_OP_REG else None

    def get64(self, slot: str) -> Value:
        return self.b.get(slot, Ty.I64)

    def put64(self, slot: str, value: Value | int) -> None:
        if isinstance(value, int):
            value = self.b.const(Ty.I64, value)
        self.b.put(slot, value)

    # -- memory operands ------------------------------------------------------
    def address(self, op) -> Value:
        """Effective address of a memory operand, including RIP-relative and FS/GS bases."""
        b, m = self.b, op.mem
        if m.base == X.X86_REG_RIP:
            addr = b.const(Ty.I64, self.next_pc + m.disp)
        else:
            addr = b.const(Ty.I64, m.disp)
            if m.base:
                addr = b.add(self._addr_reg(m.base), addr)
        if m.index:
            idx = self._addr_reg(m.index)
            if m.scale > 1:
                idx = b.shl(idx, {2: 1, 4: 2, 8: 3}[m.scale])
            addr = b.add(addr, idx)
        if self.insn.addr_size == 4:
            addr = b.zext(b.trunc(addr, Ty.I32), Ty.I64)
        if m.segment in (X.X86_REG_FS, X.X86_REG_GS):
            addr = b.add(addr, self.get64("fs_base" if m.segment == X.X86_REG_FS else "gs_base"))
        return addr

    def _addr_reg(self, reg: int) -> Value:
        slot, shift, ty = self.reg_info(reg)
        return self.b.zext(self.get_reg(reg), Ty.I64) if ty != Ty.I64 else self.get64(slot)

    # -- generic operands -----------------------------------------------------
    def width(self, index: int) -> Ty:
        return WIDTH_TY[self.insn.operands[index].size]

    def op(self, index: int):
        return self.insn.operands[index]

    def load(self, index: int, ty: Ty | None = None) -> Value:
        """Value of operand `index` at its own width (or `ty` for immediates)."""
        op = self.insn.operands[index]
        if op.type == X.X86_OP_REG and op.reg in XMM_REGS:
            return self.b.resize(self.get_xmm(XMM_REGS[op.reg]), WIDTH_TY[op.size])
        if op.type == X.X86_OP_REG:
            return self.get_reg(op.reg)
        if op.type == X.X86_OP_IMM:
            return self.b.const(ty or WIDTH_TY[op.size], op.imm)
        if op.type == X.X86_OP_MEM:
            return self.b.load(self.address(op), WIDTH_TY[op.size])
        raise self.unsupported("operand kind")

    def store(self, index: int, value: Value) -> None:
        op = self.insn.operands[index]
        if op.type == X.X86_OP_REG and op.reg in XMM_REGS:
            if op.size != 16:
                raise self.unsupported("a partial XMM write must be lifted explicitly")
            self.put_xmm(XMM_REGS[op.reg], value)
        elif op.type == X.X86_OP_REG:
            self.put_reg(op.reg, value)
        elif op.type == X.X86_OP_MEM:
            self.b.store(self.address(op), self.b.resize(value, WIDTH_TY[op.size]))
        else:
            raise self.unsupported("store to a non-lvalue operand")

    def load_store(self, index: int):
        """Load a read-modify-write operand once; return (value, writer) so the address is computed once."""
        op = self.insn.operands[index]
        if op.type == X.X86_OP_MEM:
            addr = self.address(op)
            ty = WIDTH_TY[op.size]
            return self.b.load(addr, ty), lambda v: self.b.store(addr, self.b.resize(v, ty))
        return self.load(index), lambda v: self.store(index, v)

    # -- stack ----------------------------------------------------------------
    def push(self, value: Value) -> None:
        b = self.b
        rsp = b.sub(self.get64("rsp"), value.ty.value // 8)
        b.store(rsp, value)
        b.put("rsp", rsp)

    def pop(self, ty: Ty = Ty.I64) -> Value:
        b = self.b
        rsp = self.get64("rsp")
        value = b.load(rsp, ty)
        b.put("rsp", b.add(rsp, ty.value // 8))
        return value

    # -- lazy flags -----------------------------------------------------------
    def set_cc(self, kind: CCKind, dst: Value, src: Value | None = None,
               src2: Value | None = None, first: Value | None = None) -> None:
        b = self.b
        src = src if src is not None else b.const(dst.ty, 0)
        self.cc = LazyCC(kind, dst, src, src2, first)
        b.put("cc_op", b.const(Ty.I64, cc_op_value(kind, dst.ty)))
        if kind != CCKind.EFLAGS:
            b.put("cc_dst", b.zext(dst, Ty.I64))
        b.put("cc_src", b.zext(src, Ty.I64))
        if src2 is not None:
            b.put("cc_src2", b.zext(src2, Ty.I64))

    def set_cc_if(self, changed: Value, kind: CCKind, dst: Value, src: Value | None = None,
                  src2: Value | None = None) -> None:
        """Record flags only where `changed` (i1) is true; else keep the current ones (shift by 0)."""
        b = self.b
        zero = b.const(Ty.I64, 0)
        new = {"cc_op": b.const(Ty.I64, cc_op_value(kind, dst.ty)),
               "cc_dst": b.zext(dst, Ty.I64),
               "cc_src": b.zext(src, Ty.I64) if src is not None else zero,
               "cc_src2": b.zext(src2, Ty.I64) if src2 is not None else zero}
        for slot, value in new.items():
            b.put(slot, b.select(changed, value, self.get64(slot)))
        self.cc = None

    def set_eflags(self, flags64: Value) -> None:
        """Flags given as an i64 RFLAGS value (arithmetic bits)."""
        self.set_cc(CCKind.EFLAGS, self.b.const(Ty.I64, 0), flags64)

    def flags(self, which=ALL_FLAGS) -> dict[str, Value]:
        b = self.b
        if self.cc is not None:
            c = self.cc
            return flag_bits(b, c.kind, c.dst, c.src, c.src2, which)
        eflags = self.dynamic_eflags()
        return flag_bits(b, CCKind.EFLAGS, eflags, eflags, None, which)

    def dynamic_eflags(self) -> Value:
        b = self.b
        return b.cc_all(self.get64("cc_op"), self.get64("cc_dst"), self.get64("cc_src"), self.get64("cc_src2"))

    def eflags(self) -> Value:
        """Arithmetic RFLAGS bits as an i64."""
        if self.cc is None:
            return self.dynamic_eflags()
        if self.cc.kind == CCKind.EFLAGS:
            return self.cc.src
        return pack_flags(self.b, self.flags())

    def cond(self, code: int) -> Value:
        """Condition `code` (0-15, as in jcc) as an i1."""
        if self.cc is not None:
            c = self.cc
            v = fast_condition(self.b, code, c.kind, c.dst, c.first, c.src)
            if v is not None:
                return v
        return condition_from_flags(self.b, code, self.flags(COND_FLAGS[code & ~1]))

    # -- block ends -----------------------------------------------------------
    def end_goto(self, target: int, **call) -> None:
        """call: returns_to=pc for a call (ops.py)."""
        self.b.goto(target, **call)
        self.ended = True

    def end_branch(self, cond: Value, taken: int) -> None:
        self.b.branch(cond, taken, self.next_pc)
        self.ended = True

    def end_jump(self, target: Value, **kind) -> None:
        """kind: returns_to=pc for a call, ret=True for a ret (ops.py)."""
        self.b.jump(target, **kind)
        self.ended = True

    def end_exit(self, reason: ExitReason, next_pc: int | None = None) -> None:
        self.b.exit(reason, self.next_pc if next_pc is None else next_pc)
        self.ended = True

    def end_exit_at(self, reason: ExitReason, next_pc: Value) -> None:
        """Return to the runtime with `reason`, continuing at a computed pc."""
        self.b.exit_at(reason, next_pc)
        self.ended = True

    def exit_if(self, cond: Value, target: int) -> None:
        """Leave the block for `target` when cond is true; this instruction counts as retired."""
        self.b.exit_if(cond, target, self.index + 1)

    def fault(self, vector: Vector, error: int = 0) -> None:
        """Unconditional guest fault at this instruction."""
        self.b.check(self.b.const(Ty.I1, 1), vector, error)
        self.end_exit(ExitReason.FAULT, self.pc)

    def privileged(self) -> bool:
        """True in system mode; in user mode emits #GP (as CPL 3 would get) and returns False."""
        if not self.system:
            self.fault(Vector.GP)
        return self.system

    def software_interrupt(self, vector: int) -> None:
        """int n / int3: a FAULT exit after this instruction retires (pc = the next one)."""
        self.put64("exit_vector", vector)
        self.put64("exit_error", SOFTWARE_INTERRUPT)
        self.put64("exit_addr", 0)
        self.end_exit(ExitReason.FAULT)
