"""Privileged and system-mode lifters: in/out/ins/outs, cli/sti, lidt/lgdt/sidt/sgdt/smsw,
moves to and from CR0/CR2/CR3/CR4, invlpg/wbinvd/invd, rdmsr/wrmsr, vmcall, int n, iretq.

In user mode (CPL 3 under Linux) each privileged instruction raises #GP at
itself, as the host does (the guest dies with SIGSEGV); the exceptions are
noted per lifter. In system mode (CPL 0) device and MSR access leave
translated code through the exit protocols of dbt/ir/exits.py (IO, HELPER,
software-interrupt FAULT): this module only says *which* exit, never how the
runtime serves it.

`sti` sets IF and ends its block with an IRQ_WINDOW exit so that pending
interrupts are looked at; the runtime models the one-instruction "sti
shadow" (so `sti; hlt` waits without a race). iretq restores IF too but ends
in an indirect jump: an exit cannot name a dynamic next pc, so a pending
interrupt is noticed at the runtime's next look (its pending-IRQ poll).
"""
from capstone import x86_const as X

from dbt.frontend.x86.sem_flags import IF, POPF_WRITABLE, SYSTEM_WRITABLE, restore_rflags
from dbt.ir.exits import ExitReason, Helper, IOFlag, Vector
from dbt.ir.ops import Ty



CONTROL_REGS = {X.X86_REG_CR0: "cr0", X.X86_REG_CR2: "cr2", X.X86_REG_CR3: "cr3", X.X86_REG_CR4: "cr4"}
REP_PREFIXES = (0xF2, 0xF3)      # both repeat ins/outs

# What Linux returns to user programs for sidt/sgdt/smsw on a CPU with UMIP
# (arch/x86/kernel/umip.c: UMIP_DUMMY_IDT_BASE, UMIP_DUMMY_GDT_BASE, the CR0 it reports).
USER_IDT_BASE = 0xFFFFFFFFFFFF0000
USER_GDT_BASE = 0xFFFFFFFFFFFE0000
USER_CR0 = 0x80050033
USER_CS, USER_SS = 0x33, 0x2B    # the selectors a Linux user-mode iretq may return to


def _helper_exit(ctx, which: Helper) -> None:
    ctx.put64("exit_vector", int(which))
    ctx.end_exit(ExitReason.HELPER)


def _io_exit(ctx, port, size: int, flags: IOFlag) -> None:
    """End the block with an IO exit; the runtime completes the instruction (rip = next)."""
    b = ctx.b
    ctx.put64("exit_addr", b.const(Ty.I64, port) if isinstance(port, int) else b.zext(port, Ty.I64))
    ctx.put64("exit_error", size | int(flags))
    ctx.end_exit(ExitReason.IO)


def _port(ctx, index: int):
    """The port operand: an 8-bit immediate or DX."""
    op = ctx.op(index)
    return op.imm & 0xFF if op.type == X.X86_OP_IMM else ctx.get_reg(X.X86_REG_DX)


# -- port I/O ----------------------------------------------------------------------
def lift_in(ctx, insn):
    if ctx.privileged():
        _io_exit(ctx, _port(ctx, 1), ctx.op(0).size, IOFlag(0))


def lift_out(ctx, insn):
    """The runtime reads the value from the accumulator itself."""
    if ctx.privileged():
        _io_exit(ctx, _port(ctx, 0), ctx.op(1).size, IOFlag.WRITE)


def _string_io(write: bool):
    def lift(ctx, insn):
        if not ctx.privileged():
            return
        if insn.addr_size != 8:
            raise ctx.unsupported("ins/outs with 32-bit addressing")
        mem = ctx.op(1 if write else 0)
        flags = IOFlag.STRING | (IOFlag.WRITE if write else IOFlag(0))
        if insn.prefix[0] in REP_PREFIXES:
            flags |= IOFlag.REP
        _io_exit(ctx, ctx.get_reg(X.X86_REG_DX), mem.size, flags)
    return lift


# -- interrupt flag ---------------------------------------------------------------
def lift_cli(ctx, insn):
    if ctx.privileged():
        ctx.put64("eflags", ctx.b.and_(ctx.get64("eflags"), ~IF))


def lift_sti(ctx, insn):
    if ctx.privileged():
        ctx.put64("eflags", ctx.b.or_(ctx.get64("eflags"), IF))
        _helper_exit(ctx, Helper.IRQ_WINDOW)


def _iret(ty: Ty):
    """iretq (8-byte slots) / iretd (4-byte): pop rip, cs, rflags, rsp, ss.

    System mode restores IF and IOPL too and returns to the runtime at the
    popped rip with an IRQ_WINDOW exit (so a pending interrupt is taken at
    once). User mode is legal at CPL 3 when it returns to Linux's user
    selectors (an indirect jump); anything else is #GP.
    """
    size = ty.value // 8

    def lift(ctx, insn):
        b = ctx.b
        rsp = ctx.get64("rsp")
        rip, cs, flags, new_rsp, ss = (b.zext(b.load(b.add(rsp, i * size), ty), Ty.I64) for i in range(5))
        if ctx.system:
            writable = SYSTEM_WRITABLE
        else:
            bad = b.or_(b.ne(b.and_(cs, 0xFFFF), USER_CS), b.ne(b.and_(ss, 0xFFFF), USER_SS))
            b.check(bad, Vector.GP)
            writable = POPF_WRITABLE
        restore_rflags(ctx, flags, writable)
        ctx.put64("rsp", new_rsp)
        if ctx.system:
            ctx.put64("exit_vector", Helper.IRQ_WINDOW)
            ctx.end_exit_at(ExitReason.HELPER, rip)
        else:
            ctx.end_jump(rip)
    return lift


# -- descriptor tables and control registers -------------------------------------
def _load_table(name: str):
    """lidt/lgdt: a 2-byte limit then an 8-byte base."""
    def lift(ctx, insn):
        if not ctx.privileged():
            return
        b = ctx.b
        addr = ctx.address(ctx.op(0))
        limit = b.load(addr, Ty.I16)
        base = b.load(b.add(addr, 2), Ty.I64)
        ctx.put64(f"{name}_limit", b.zext(limit, Ty.I64))
        ctx.put64(f"{name}_base", base)
    return lift


def _store_table(name: str, user_base: int):
    """sidt/sgdt: not privileged without CR4.UMIP; user mode stores what Linux's UMIP
    emulation reports (limit 0, a fixed dummy base)."""
    def lift(ctx, insn):
        b = ctx.b
        addr = ctx.address(ctx.op(0))
        if ctx.system:
            limit = b.trunc(ctx.get64(f"{name}_limit"), Ty.I16)
            base = ctx.get64(f"{name}_base")
        else:
            limit, base = b.const(Ty.I16, 0), b.const(Ty.I64, user_base)
        b.store(addr, limit)
        b.store(b.add(addr, 2), base)
    return lift


def lift_smsw(ctx, insn):
    """Machine status word: CR0 at the operand's width (16 bits to memory).

    User mode stores Linux's UMIP value the way Linux's emulation does: it
    copies the operand's bytes into the register, so `smsw r32` keeps the
    upper half of the register (the CPU itself would zero it)."""
    b, op = ctx.b, ctx.op(0)
    if ctx.system:
        ctx.store(0, b.trunc(ctx.get64("cr0"), ctx.width(0)))
    elif op.type == X.X86_OP_REG and op.size == 4:
        slot = ctx.reg_info(op.reg)[0]
        ctx.put64(slot, b.or_(b.and_(ctx.get64(slot), ~0xFFFFFFFF), USER_CR0))
    else:
        ctx.store(0, b.const(ctx.width(0), USER_CR0))


def moves_control_register(insn) -> bool:
    """True for moves to or from a control or debug register (0F 20-23), which capstone
    reports as X86_INS_MOV: sem_move.lift_mov hands them to lift_mov_cr."""
    return insn.opcode[0] == 0x0F and insn.opcode[1] in (0x20, 0x21, 0x22, 0x23)


def lift_mov_cr(ctx, insn):
    """mov to/from CR0/CR2/CR3/CR4: they read back what was last written (no paging yet)."""
    if not ctx.privileged():
        return
    dst, src = ctx.op(0), ctx.op(1)
    if dst.reg in CONTROL_REGS:
        ctx.put64(CONTROL_REGS[dst.reg], ctx.get_reg(src.reg))
    elif src.reg in CONTROL_REGS:
        ctx.put_reg(dst.reg, ctx.get64(CONTROL_REGS[src.reg]))
    else:
        raise ctx.unsupported("register other than CR0/CR2/CR3/CR4")


def lift_privileged_nop(ctx, insn):
    """invlpg, wbinvd, invd: no translation or cache to maintain."""
    ctx.privileged()


# -- MSRs, hypercalls, software interrupts ------------------------------------------
def _msr(which: Helper):
    def lift(ctx, insn):
        if ctx.privileged():
            _helper_exit(ctx, which)
    return lift


def lift_vmcall(ctx, insn):
    """A hypercall in system mode; #UD in user mode (outside VMX non-root, as on bare metal)."""
    if ctx.system:
        _helper_exit(ctx, Helper.VMCALL)
    else:
        ctx.fault(Vector.UD)


def lift_int(ctx, insn):
    """int n. User mode: `int 3` traps like int3, `int 0x80` (32-bit Linux system calls)
    is not supported, any other n is #GP at the instruction (the IDT gate's DPL is 0)."""
    n = ctx.op(0).imm & 0xFF
    if ctx.system or n == Vector.BP:
        ctx.software_interrupt(n)
    elif n == 0x80:
        raise ctx.unsupported("32-bit system calls (int 0x80)")
    else:
        ctx.fault(Vector.GP, error=(n << 3) | 2)     # as Linux reports it: IDT entry n, external 0


LIFTERS = {
    X.X86_INS_IN: lift_in,
    X.X86_INS_OUT: lift_out,
    X.X86_INS_INSB: _string_io(False),
    X.X86_INS_INSW: _string_io(False),
    X.X86_INS_INSD: _string_io(False),
    X.X86_INS_OUTSB: _string_io(True),
    X.X86_INS_OUTSW: _string_io(True),
    X.X86_INS_OUTSD: _string_io(True),
    X.X86_INS_CLI: lift_cli,
    X.X86_INS_STI: lift_sti,
    X.X86_INS_IRETQ: _iret(Ty.I64),
    X.X86_INS_IRETD: _iret(Ty.I32),
    X.X86_INS_LIDT: _load_table("idt"),
    X.X86_INS_LGDT: _load_table("gdt"),
    X.X86_INS_SIDT: _store_table("idt", USER_IDT_BASE),
    X.X86_INS_SGDT: _store_table("gdt", USER_GDT_BASE),
    X.X86_INS_SMSW: lift_smsw,
    X.X86_INS_INVLPG: lift_privileged_nop,
    X.X86_INS_WBINVD: lift_privileged_nop,
    X.X86_INS_INVD: lift_privileged_nop,
    X.X86_INS_RDMSR: _msr(Helper.RDMSR),
    X.X86_INS_WRMSR: _msr(Helper.WRMSR),
    X.X86_INS_VMCALL: lift_vmcall,
    X.X86_INS_INT: lift_int,
}
