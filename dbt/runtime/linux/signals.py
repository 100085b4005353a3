"""Linux signals for one user-mode process: actions, blocked mask, pending set, alternate stack.

Delivery builds the x86-64 rt_sigframe on the guest stack exactly as the
kernel lays it out (arch/x86/kernel/signal_64.c): the restorer address at
the new rsp, then struct ucontext (with struct sigcontext and uc_sigmask),
then siginfo_t; above it a 512-byte fxsave-format FP area (64-aligned) that
uc_mcontext.fpstate points at. rt_sigreturn restores all of it. Signals come
from guest faults (deliver_fault) or from the guest itself (kill/tgkill/
tkill to its own pid: `send`, then deliver_pending after the syscall). The
process calls deliver_pending after it has written rax/rcx/r11 for a syscall:
an rt_sigreturn's restored rcx and r11 are put back there.
Nothing here touches host signals: the guest's dispositions live only here.

Differences from the kernel, all deliberate: the FP area is plain fxsave
(no xsave header, and uc_flags lacks UC_FP_XSTATE: the CPU has no AVX state);
stop signals are ignored (one process, no job control); a page-fault error
code (sigcontext.err) has P set for every page with some permission, as if
each mapped page had been touched before.
"""
import errno
import struct
from dataclasses import dataclass

from dbt.ir.exits import Vector
from dbt.runtime.cpu import AC, AF, CF, DF, OF, PF, SF, TF, ZF
from dbt.runtime.executor import Stop
from dbt.runtime.memory import CANONICAL_HIGH, CANONICAL_LOW, GuestFault

NSIG = 64
SIGNAL_NAMES = ("", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE",
                "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM",
                "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU",
                "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO",
                "SIGPWR", "SIGSYS")
SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGKILL, SIGSEGV, SIGSTOP, SIGSYS = 4, 5, 7, 8, 9, 11, 19, 31
DEFAULT_IGNORE = frozenset({17, 18, 23, 28})     # SIGCHLD SIGCONT SIGURG SIGWINCH
DEFAULT_STOP = frozenset({19, 20, 21, 22})       # SIGSTOP SIGTSTP SIGTTIN SIGTTOU: ignored here
SYNCHRONOUS = (SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGSYS)   # dequeued first, as the kernel does

SIG_DFL, SIG_IGN = 0, 1
SA_NOCLDSTOP, SA_NOCLDWAIT, SA_SIGINFO, SA_EXPOSE_TAGBITS = 0x1, 0x2, 0x4, 0x800
SA_RESTORER, SA_ONSTACK, SA_RESTART = 0x04000000, 0x08000000, 0x10000000
SA_NODEFER, SA_RESETHAND = 0x40000000, 0x80000000
UAPI_SA_FLAGS = (SA_NOCLDSTOP | SA_NOCLDWAIT | SA_SIGINFO | SA_ONSTACK | SA_RESTART | SA_NODEFER
                 | SA_RESETHAND | SA_EXPOSE_TAGBITS | SA_RESTORER)   # other bits read back as 0
SS_ONSTACK, SS_DISABLE, SS_AUTODISARM = 1, 2, 1 << 31
MINSIGSTKSZ = 2048
SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2

# si_code values.
SI_USER, SI_KERNEL, SI_TKILL = 0, 0x80, -6
SEGV_MAPERR, SEGV_ACCERR, ILL_ILLOPN, FPE_INTDIV, TRAP_BRKPT = 1, 2, 2, 1, 1
# Page-fault error code bits (reported in sigcontext.err).
PF_PROT, PF_WRITE, PF_USER, PF_INSTR = 0x1, 0x2, 0x4, 0x10

# Frame layout (bytes): rt_sigframe = pretcode, ucontext (304), siginfo (128).
UC_OFFSET, SIGCONTEXT_OFFSET, SIGMASK_OFFSET, INFO_OFFSET, FRAME_SIZE = 8, 40, 296, 312, 440
UCONTEXT_SIZE, SIGINFO_SIZE, FXSAVE_SIZE = 304, 128, 512
UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS = 0x2, 0x4
RED_ZONE = 128
USER_CS, USER_DS = 0x33, 0x2B
# The sigcontext register order (r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip).
SC_REGS = ("r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
           "rdi", "rsi", "rbp", "rbx", "rdx", "rax", "rcx", "rsp", "rip")
SC_FORMAT = "<17QQHHHHQQQQQ64x"      # regs, eflags, cs gs fs ss, err trapno oldmask cr2 fpstate, reserved
FIX_EFLAGS = AC | OF | DF | TF | SF | ZF | AF | PF | CF | (1 << 16)    # what rt_sigreturn may change (RF too)
ENTRY_CLEAR_FLAGS = DF | TF | (1 << 16)                                 # DF, TF, RF cleared for the handler
UNBLOCKABLE = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1))
U64 = (1 << 64) - 1


def sigbit(signo: int) -> int:
    return 1 << (signo - 1)


def signal_name(signo: int) -> str:
    return SIGNAL_NAMES[signo] if 0 < signo < len(SIGNAL_NAMES) else f"real-time signal {signo}"


def siginfo(signo: int, code: int, *fields: int, fmt: str = "") -> bytes:
    """A 128-byte siginfo_t: signo, errno 0, code, then the union packed with `fmt`."""
    head = struct.pack("<iii4x", signo, 0, code) + struct.pack("<" + fmt, *fields)
    return head.ljust(SIGINFO_SIZE, b"\0")


def fault_siginfo(signo: int, code: int, addr: int) -> bytes:
    return siginfo(signo, code, addr, fmt="Q")


@dataclass
class SigAction:
    """One struct kernel_sigaction: handler, flags, restorer, mask."""
    handler: int = SIG_DFL
    flags: int = 0
    restorer: int = 0
    mask: int = 0


@dataclass
class Pending:
    signo: int
    info: bytes
    fault: GuestFault | None = None   # set when a guest fault raised it (for the process's report)
    shared: bool = False              # kill queues on the process, tkill/tgkill/faults on the thread


class SignalState:
    """The signal state of the (single-threaded) process: LinuxProcess holds one."""

    def __init__(self):
        self.actions = [SigAction() for _ in range(NSIG + 1)]    # indexed by signal number
        self.blocked = 0
        self.pending: list[Pending] = []
        self.ss_sp, self.ss_size, self.ss_flags = 0, 0, 0       # sigaltstack
        self.trap_nr, self.error_code, self.cr2 = 0, 0, 0        # the thread's last fault, as saved in frames
        self.report: str | None = None     # the one line for a run that a signal ended (Stop "signal")
        self.saved_mask: int | None = None  # the mask to restore after sigsuspend's temporary one
        self._after_sigreturn: tuple[int, int, int, int] | None = None   # (rip, icount, rcx, r11)

    # -- actions and mask -----------------------------------------------------------
    def set_action(self, signo: int, new: SigAction | None) -> SigAction:
        """sigaction: install `new` (if given); returns the old action. Caller checks signo."""
        old = self.actions[signo]
        if new is not None:
            self.actions[signo] = SigAction(new.handler, new.flags & UAPI_SA_FLAGS, new.restorer,
                                            new.mask & ~UNBLOCKABLE)
            if self._ignored(signo):
                self.pending = [p for p in self.pending if p.signo != signo]
        return SigAction(old.handler, old.flags, old.restorer, old.mask)

    def set_blocked(self, mask: int) -> None:
        self.blocked = mask & ~UNBLOCKABLE & ((1 << NSIG) - 1)

    def pending_mask(self) -> int:
        mask = 0
        for p in self.pending:
            mask |= sigbit(p.signo)
        return mask

    def _ignored(self, signo: int) -> bool:
        """The disposition discards this signal (SIG_IGN, or a default of ignore or stop)."""
        handler = self.actions[signo].handler
        return handler == SIG_IGN or (handler == SIG_DFL and (signo in DEFAULT_IGNORE or signo in DEFAULT_STOP))

    # -- alternate stack ----------------------------------------------------------
    def on_altstack(self, sp: int) -> bool:
        """__on_sig_stack: sp is inside the alternate stack (which grows down from ss_sp + ss_size)."""
        return sp > self.ss_sp and sp - self.ss_sp <= self.ss_size

    def altstack_flags(self, sp: int) -> int:
        """sas_ss_flags(sp): SS_DISABLE without a stack, SS_ONSTACK on it, else 0."""
        if not self.ss_size:
            return SS_DISABLE
        if self.ss_flags & SS_AUTODISARM:
            return 0
        return SS_ONSTACK if self.on_altstack(sp) else 0

    def set_altstack(self, sp: int, size: int, flags: int, current_sp: int) -> int:
        """do_sigaltstack's setting half (flags as the u32 the guest passed): 0 or a negative errno."""
        if self.altstack_flags(current_sp) == SS_ONSTACK:
            return -errno.EPERM
        mode = flags & ~SS_AUTODISARM
        if mode not in (0, SS_ONSTACK, SS_DISABLE):
            return -errno.EINVAL
        if (sp, size, flags) == (self.ss_sp, self.ss_size, self.ss_flags):
            return 0
        if mode == SS_DISABLE:
            sp, size = 0, 0
        elif size < MINSIGSTKSZ:
            return -errno.ENOMEM
        self.ss_sp, self.ss_size, self.ss_flags = sp, size, flags & 0xFFFFFFFF
        return 0

    # -- sending --------------------------------------------------------------------
    def send(self, signo: int, info: bytes, shared: bool) -> None:
        """Queue a signal the process sent itself, on the process (kill: shared) or on its
        one thread (tkill, tgkill). A standard signal is pending at most once in each queue."""
        if self._ignored(signo) and not self.blocked & sigbit(signo) and signo != SIGKILL:
            return
        if signo < 32 and any(p.signo == signo and p.shared == shared for p in self.pending):
            return
        self.pending.append(Pending(signo, info, shared=shared))

    # -- delivery ---------------------------------------------------------------------
    def deliver_fault(self, proc, fault: GuestFault) -> Stop | None:
        """A guest fault: deliver its signal to the handler, or end the run (Stop 'fault')."""
        signo, code, addr = self._classify(proc, fault)
        self._force(signo)
        self.pending = [p for p in self.pending if p.signo != signo or p.shared]
        self.pending.insert(0, Pending(signo, fault_siginfo(signo, code, addr), fault))
        return self.deliver_pending(proc)

    def deliver_pending(self, proc) -> Stop | None:
        """Deliver every pending signal that is not blocked; call after each syscall returns."""
        self._restore_syscall_clobbers(proc.emu.cpu)
        while self.pending:
            entry = self._dequeue()
            if entry is None:
                break
            stop = self._deliver(proc, entry)
            if stop is not None:
                return stop
        if self.saved_mask is not None:       # sigsuspend ran no handler: its mask ends here
            self.set_blocked(self.saved_mask)
            self.saved_mask = None
        return None

    def deliverable(self) -> bool:
        """Some pending signal is not blocked and not ignored: it would run a handler or kill."""
        return any(not self.blocked & sigbit(p.signo) and not self._ignored(p.signo) for p in self.pending)

    def suspend(self, mask: int | None, wait_for_signal) -> bool:
        """sigsuspend (mask) or pause (None): with `mask` in force, is a signal deliverable now,
        or after wait_for_signal() (True when one came)? If so, the caller returns -EINTR
        and the saved mask returns after the handler."""
        if mask is not None:
            self.saved_mask = self.blocked
            self.set_blocked(mask)
        if self.deliverable() or wait_for_signal():
            return True
        if mask is not None:
            self.blocked, self.saved_mask = self.saved_mask, None
        return False

    def take(self, mask: int) -> Pending | None:
        """sigtimedwait: remove and return the next pending signal in `mask`, blocked or not."""
        return self._dequeue(mask & ~UNBLOCKABLE)

    def restarts(self) -> bool:
        """A syscall a signal interrupted (-ERESTARTSYS) runs again after the handler: the
        signal delivered next has a handler installed with SA_RESTART (handle_signal)."""
        entry = self._next(~self.blocked)
        if entry is None:
            return False
        action = self.actions[entry.signo]
        return action.handler not in (SIG_DFL, SIG_IGN) and bool(action.flags & SA_RESTART)

    def _next(self, wanted: int) -> Pending | None:
        """The thread's queue before the process's; in each, synchronous signals first, then
        the lowest number (first queued among equal real-time ones), among `wanted` (a mask)."""
        for shared in (False, True):
            ready = [p for p in self.pending if p.shared == shared and wanted & sigbit(p.signo)]
            if ready:
                sync = [p for p in ready if p.signo in SYNCHRONOUS]
                return sync[0] if sync else min(ready, key=lambda p: p.signo)
        return None

    def _dequeue(self, wanted: int | None = None) -> Pending | None:
        """Remove and return the next signal to deliver (_next); `wanted` overrides the usual
        rule, signals that are not blocked."""
        entry = self._next(~self.blocked if wanted is None else wanted)
        if entry is not None:
            self.pending.remove(entry)
        return entry

    def _deliver(self, proc, entry: Pending) -> Stop | None:
        signo = entry.signo
        action = self.actions[signo]
        if action.handler == SIG_IGN or (action.handler == SIG_DFL and signo != SIGKILL and self._ignored(signo)):
            return None
        if action.handler == SIG_DFL or signo == SIGKILL:
            return self._terminate(signo, entry.fault)
        if action.flags & SA_RESETHAND:     # only the handler is reset, as the kernel does
            self.actions[signo] = SigAction(SIG_DFL, action.flags, action.restorer, action.mask)
        pc = proc.emu.cpu.rip
        if self._setup_frame(proc, entry, action):
            self._after_handler_entry(signo, action)
            if proc.emu.trace is not None:
                proc.emu.trace.signal(signal_name(signo), signo, pc, action.handler)
            return None
        return self._frame_failed(proc, entry)

    def _terminate(self, signo: int, fault: GuestFault | None, why: str = "") -> Stop:
        if fault is not None:
            return Stop("fault", fault=fault)          # the process reports it (fault_result)
        self.report = f"dbt: guest killed by {signal_name(signo)}{why}"
        return Stop("signal", status=128 + signo)

    def _force(self, signo: int) -> None:
        """force_sig: a blocked or ignored signal is unblocked and gets its default action."""
        action = self.actions[signo]
        if self.blocked & sigbit(signo) or action.handler == SIG_IGN:
            self.actions[signo] = SigAction(SIG_DFL, action.flags, action.restorer, action.mask)
            self.blocked &= ~sigbit(signo)

    def _frame_failed(self, proc, entry: Pending) -> Stop | None:
        """force_sigsegv: the frame could not be written (bad stack)."""
        sp = proc.emu.cpu.rsp
        why = f": cannot write the signal frame for {signal_name(entry.signo)} (stack pointer {sp:#x})"
        if entry.signo == SIGSEGV:
            return self._terminate(SIGSEGV, entry.fault, why)
        self._force(SIGSEGV)
        self.pending.insert(0, Pending(SIGSEGV, siginfo(SIGSEGV, SI_KERNEL)))
        if self.actions[SIGSEGV].handler == SIG_DFL:
            return self._terminate(SIGSEGV, None, why)
        return None     # the SIGSEGV handler runs next (deliver_pending's loop)

    def _after_handler_entry(self, signo: int, action: SigAction) -> None:
        blocked = self.blocked | action.mask
        if not action.flags & SA_NODEFER:
            blocked |= sigbit(signo)
        self.set_blocked(blocked)
        self.saved_mask = None                # the first frame saved it (as uc_sigmask)
        if self.ss_flags & SS_AUTODISARM:
            self.ss_sp, self.ss_size, self.ss_flags = 0, 0, SS_DISABLE

    # -- faults -----------------------------------------------------------------------
    def _classify(self, proc, fault: GuestFault) -> tuple[int, int, int]:
        """(signal, si_code, si_addr) for a fault, and record trapno/err/cr2 as the kernel does."""
        cpu = proc.emu.cpu
        pc = fault.pc if fault.pc is not None else cpu.rip
        vector = fault.vector
        if vector == Vector.PF and CANONICAL_LOW <= fault.addr < CANONICAL_HIGH:
            vector = Vector.GP           # a non-canonical address is a #GP, not a #PF
            self.error_code = 0
        else:
            self.error_code = fault.error
        self.trap_nr = int(vector) if vector <= 31 else 13
        if vector == Vector.PF:
            present = proc.mem.is_mapped(fault.addr) or fault.addr >= CANONICAL_HIGH
            self.error_code = (PF_USER | (PF_WRITE if fault.write else 0) | (PF_PROT if present else 0)
                               | (PF_INSTR if fault.addr == pc and not fault.write else 0))
            self.cr2 = fault.addr
            in_area = proc.vm.area_at(fault.addr) is not None     # a PROT_NONE area counts
            return SIGSEGV, SEGV_ACCERR if in_area else SEGV_MAPERR, fault.addr
        if vector == Vector.DE:
            return SIGFPE, FPE_INTDIV, pc
        if vector == Vector.UD:
            return SIGILL, ILL_ILLOPN, pc
        if vector == Vector.BP:
            return SIGTRAP, SI_KERNEL, 0
        if vector == Vector.DB:
            return SIGTRAP, TRAP_BRKPT, cpu.rip
        return SIGSEGV, SI_KERNEL, 0     # #GP and anything else

    # -- the frame ----------------------------------------------------------------------
    def _setup_frame(self, proc, entry: Pending, action: SigAction) -> bool:
        """get_signal + setup_rt_frame: write the frame and point the CPU at the handler."""
        emu, mem = proc.emu, proc.mem
        cpu = emu.cpu
        if not action.flags & SA_RESTORER:
            return False             # x86-64 has no vDSO fallback: the kernel fails the frame
        nested = self.altstack_flags(cpu.rsp) == SS_ONSTACK
        sp = (cpu.rsp - RED_ZONE) & U64
        entering = False
        if action.flags & SA_ONSTACK and self.altstack_flags(sp) == 0:
            sp, entering = (self.ss_sp + self.ss_size) & U64, True
        fpstate = (sp - FXSAVE_SIZE) & ~63
        frame = ((fpstate - FRAME_SIZE) & ~15) - 8
        if frame < 0 or ((nested or entering) and not self.on_altstack(frame)):
            return False
        rflags = emu.rflags
        saved_mask = self.blocked if self.saved_mask is None else self.saved_mask
        sc = self._sigcontext(cpu, rflags, saved_mask, fpstate)
        stack = struct.pack("<QI4xQ", self.ss_sp, self.ss_flags, self.ss_size)
        uc = struct.pack("<QQ", UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS, 0) + stack + sc \
            + struct.pack("<Q", saved_mask)
        try:
            mem.write(fpstate, save_fxsave(cpu))
            mem.write(frame, struct.pack("<Q", action.restorer) + uc)
            if action.flags & SA_SIGINFO:
                mem.write(frame + INFO_OFFSET, entry.info)
        except GuestFault:
            return False
        cpu.rdi, cpu.rsi, cpu.rdx, cpu.rax = entry.signo, frame + INFO_OFFSET, frame + UC_OFFSET, 0
        cpu.rsp, cpu.rip = frame, action.handler & U64
        emu.rflags = rflags & ~ENTRY_CLEAR_FLAGS
        reset_fpu(cpu)
        return True

    def _sigcontext(self, cpu, rflags: int, mask: int, fpstate: int) -> bytes:
        regs = [getattr(cpu, name) for name in SC_REGS]
        return struct.pack(SC_FORMAT, *regs, rflags, USER_CS, 0, 0, USER_DS,
                           self.error_code, self.trap_nr, mask, self.cr2, fpstate)

    # -- rt_sigreturn ---------------------------------------------------------------------
    def sigreturn(self, proc) -> int:
        """Restore the context saved by the frame at rsp - 8; returns the restored rax."""
        emu, mem = proc.emu, proc.mem
        cpu = emu.cpu
        frame = (cpu.rsp - 8) & U64
        try:
            uc = mem.read(frame + UC_OFFSET, UCONTEXT_SIZE)
            fields = struct.unpack_from(SC_FORMAT, uc, SIGCONTEXT_OFFSET)
            fpstate = fields[-1]
            fx = mem.read(fpstate, FXSAVE_SIZE) if fpstate else None
        except GuestFault:
            return self._bad_frame(proc)
        if fpstate & 15:
            return self._bad_frame(proc)
        (mask,) = struct.unpack_from("<Q", uc, SIGMASK_OFFSET)
        self.set_blocked(mask)
        for name, value in zip(SC_REGS, fields):
            setattr(cpu, name, value)
        flags = fields[len(SC_REGS)]
        emu.rflags = (emu.rflags & ~FIX_EFLAGS) | (flags & FIX_EFLAGS)
        if fx is None:
            reset_fpu(cpu)
        else:
            load_fxsave(cpu, fx)
        # Errors are ignored, as Linux does. The on-the-stack check uses the handler's sp:
        # measured on Linux 6.18, a handler on a disarmed (SS_AUTODISARM) stack that re-arms
        # it without the flag keeps that setting (EPERM here), else the saved one returns.
        ss_sp, ss_flags, ss_size = struct.unpack_from("<QI4xQ", uc, 16)
        self.set_altstack(ss_sp, ss_size, ss_flags, frame + 8)
        self._after_sigreturn = (cpu.rip, cpu.icount, cpu.rcx, cpu.r11)
        return cpu.rax

    def _bad_frame(self, proc) -> int:
        """signal_fault: an unreadable frame gets the process a SIGSEGV."""
        self._force(SIGSEGV)
        self.pending.insert(0, Pending(SIGSEGV, siginfo(SIGSEGV, SI_KERNEL)))
        return 0

    def _restore_syscall_clobbers(self, cpu) -> None:
        """rt_sigreturn restored rcx and r11, which the syscall path then set to rip/rflags
        (as `syscall` does); put them back. Only right after that very sigreturn."""
        saved, self._after_sigreturn = self._after_sigreturn, None
        if saved is not None and saved[:2] == (cpu.rip, cpu.icount):
            cpu.rcx, cpu.r11 = saved[2], saved[3]


# -- FP state in fxsave format ---------------------------------------------------------------
# x87 registers: cpu.st holds the eight physical registers (16 bytes each); ST(i) is physical
# register (top + i) & 7, and the TOP field lives in cpu.fpu_top, not in cpu.fpu_sw.
MXCSR_MASK = 0xFFFF


def save_fxsave(cpu) -> bytes:
    top = cpu.fpu_top & 7
    abridged = 0
    for reg in range(8):
        if (cpu.fpu_tag >> (2 * reg)) & 3 != 3:
            abridged |= 1 << reg
    fsw = (cpu.fpu_sw & ~0x3800) | (top << 11)
    head = struct.pack("<HHBxHQQII", cpu.fpu_cw, fsw, abridged, 0, 0, 0, cpu.mxcsr, MXCSR_MASK)
    st = bytes(cpu.st)
    regs = b"".join(st[16 * ((top + i) & 7):16 * ((top + i) & 7) + 10].ljust(16, b"\0") for i in range(8))
    xmm = struct.pack("<32Q", *cpu.xmm)
    return (head + regs + xmm).ljust(FXSAVE_SIZE, b"\0")


def load_fxsave(cpu, fx: bytes) -> None:
    fcw, fsw, abridged, _, _, _, mxcsr, _ = struct.unpack_from("<HHBxHQQII", fx)
    top = (fsw >> 11) & 7
    cpu.fpu_cw, cpu.fpu_sw, cpu.fpu_top = fcw, fsw & ~0x3800, top
    cpu.fpu_tag = sum((0 if abridged & (1 << reg) else 3) << (2 * reg) for reg in range(8))
    st = bytearray(128)
    for i in range(8):
        phys = (top + i) & 7
        st[16 * phys:16 * phys + 10] = fx[32 + 16 * i:42 + 16 * i]
    cpu.st[:] = list(st)
    cpu.mxcsr = mxcsr & MXCSR_MASK
    cpu.xmm[:] = list(struct.unpack_from("<32Q", fx, 160))


def reset_fpu(cpu) -> None:
    """The FP state a handler starts with (the kernel's init_fpstate)."""
    cpu.fpu_cw, cpu.fpu_sw, cpu.fpu_tag, cpu.fpu_top, cpu.mxcsr = 0x037F, 0, 0xFFFF, 0, 0x1F80
    cpu.st[:] = [0] * 128
    cpu.xmm[:] = [0] * 32
