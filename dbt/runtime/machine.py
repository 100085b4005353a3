"""The `pc` machine (MACHINE.md): RAM, the device bus, virtual time and interrupt delivery.

PcMachine is the `Services` behind the executor in system mode. It completes
port I/O (IO exits) on the bus, emulates MSRs and hypercalls (HELPER exits),
delivers exceptions and interrupts through the IDT (interrupts.py), and keeps
virtual time: cpu.icount + the time `hlt` skipped, 1 ns per instruction.
Timer deadlines are met exactly by setting cpu.budget to the icount at which
the next one falls; interrupts are taken between blocks by setting
cpu.exit_request, so both engines take them at the same instructions
(--realtime: a host alarm thread sets exit_request at each deadline instead;
host signals such as Ctrl-C set it too, see host_events.py).
Beyond the bare contract: `sti` holds interrupts for one more instruction
(the sti shadow, so `sti; hlt` cannot miss its wake-up); an IRQ pending while
IF=0 is looked at again every PENDING_POLL instructions, since `iretq` sets
IF without an exit; `hlt` that nothing can ever wake (IF=0, or every timed
device's IRQ masked or blocked in service) ends the run as "halted".
It never prints: every way a run ends comes back as a MachineResult.
"""
import copy
import datetime
import time
from dataclasses import dataclass, field

from dbt.api import Emulator
from dbt.ir.exits import Helper, IOFlag
from dbt.runtime import machine_boot
from dbt.runtime.cpu import IF
from dbt.runtime.devices.ata import ATADisk
from dbt.runtime.devices.bus import Bus, Device
from dbt.runtime.devices.debugcon import DebugCon
from dbt.runtime.devices.debugexit import DebugExit
from dbt.runtime.devices.pic8259 import PICPair
from dbt.runtime.devices.pit8254 import PIT8254
from dbt.runtime.devices.rtc import RTC
from dbt.runtime.devices.uart16550 import UART16550
from dbt.runtime.executor import Services, Stop
from dbt.runtime.host_events import HostAlarm, SignalWake, TimeLimitExpired, WallClockLimit
from dbt.runtime.interrupts import GP, UD, Event, TripleFault, deliver, exception_event
from dbt.runtime.memory import GuestFault

MASK64 = (1 << 64) - 1
NEVER = MASK64

BUDGET_STATUS = 124           # --max-insns or --timeout spent, as in user mode (timeout(1)'s status)
TRIPLE_FAULT_STATUS = 3

# MSRs (rdmsr/wrmsr); any other number is #GP(0).
MSR_TSC, MSR_EFER = 0x10, 0xC0000080
MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE = 0xC0000100, 0xC0000101, 0xC0000102
EFER_WRITABLE = (1 << 0) | (1 << 8) | (1 << 11)      # SCE, LME, NXE
EFER_LMA = 1 << 10

# Hypercalls (vmcall, number in RAX).
HC_VERSION, HC_CONSOLE_WRITE, HC_EXIT, HC_TIME = 0, 1, 2, 3
HYPERCALL_VERSION = 1

# IRQ lines of the PC.
IRQ_PIT, IRQ_COM1, IRQ_RTC, IRQ_ATA = 0, 4, 8, 14

IO_WRITE, IO_STRING, IO_REP = int(IOFlag.WRITE), int(IOFlag.STRING), int(IOFlag.REP)
STI_OPCODE = 0xFB
PENDING_POLL = 1_000          # an IRQ waits for IF=1: look again after this many instructions
IDLE_SPIN = 1_000             # hlt: deadlines skipped without a wake-up before sleeping on the host
IDLE_SLEEP = 0.001
WAKE_CHECK = 64               # hlt: deadlines between checks that some interrupt can still come

# The RTC's time of day at virtual time 0 in deterministic runs (--realtime: the host's time).
DETERMINISTIC_EPOCH = datetime.datetime(2000, 1, 1)


@dataclass
class MachineConfig:
    kernel: str
    engine: str = "jit"
    ram_size: int = machine_boot.DEFAULT_RAM
    cmdline: bytes = b""
    console_write: object = None          # callable(bytes): UART THR, port 0xE9, hypercall 1
    console_input: object = None          # callable() -> int | None: UART RBR, non-blocking
    drive: str | None = None              # raw disk image for the ATA primary master
    realtime: bool = False
    log_unimp: object = None              # callable(str) for -d unimp
    trace: object = None
    opt: int = 0
    regions: str | None = None            # dbt.runtime.regions.MODES (default $DBT_REGIONS or on)
    jit_after: int = 1                    # the jit compiles a block on its N-th run (dbt/runtime/tiers.py)
    screenshot: str | None = None         # PNG of the VGA text screen, written by close()
    code_cache: str | bool | None = None  # JIT code cache directory; False: none; None: DBT_CACHE decides
    extra_devices: list = field(default_factory=list)


@dataclass
class MachineResult:
    status: int
    message: str | None = None           # the one line to print, if any


def _no_output(data: bytes) -> None:
    pass


def _no_input():
    return None


class PcMachine(Services):
    def __init__(self, config: MachineConfig):
        self.config = config
        kernel = machine_boot.read_kernel(config.kernel, config.ram_size)
        self.emu = Emulator(config.engine, memory_size=config.ram_size, services=self,
                            trace=config.trace, opt=config.opt, system=True, code_cache=config.code_cache,
                            regions=config.regions, jit_after=config.jit_after)
        self.cpu, self.mem = self.emu.cpu, self.emu.mem
        self.emu.map(0, config.ram_size, "rwx")
        machine_boot.load_kernel(kernel, self.mem)
        machine_boot.write_boot_info(self.mem, config.ram_size, config.cmdline)
        machine_boot.set_entry_state(self.cpu, kernel.entry)
        self.console = config.console_write or _no_output
        self.skipped = 0                  # ns that hlt skipped (deterministic time)
        self.tsc_offset = 0
        self.kernel_gs_base = 0
        self.shadow_until = 0             # no interrupt before this icount (sti shadow)
        self.user_limit = NEVER           # icount at which --max-insns is spent
        self.host_t0 = time.monotonic_ns()
        self.ending: Stop | None = None   # set by the debug-exit device
        self.message: str | None = None
        self.closed = False
        self.alarm = HostAlarm(self.cpu, self.host_t0) if config.realtime else None
        self.bus = Bus(self._unassigned if config.log_unimp else None)
        self.pic = PICPair()
        self.irq_lines: list = []         # (device, IRQ line) of each device wired to the PIC
        self._build_devices()

    # -- devices ----------------------------------------------------------------
    def _build_devices(self) -> None:
        c = self.config
        start = datetime.datetime.now() if c.realtime else DETERMINISTIC_EPOCH
        self._attach(self.pic, None)
        self._attach(PIT8254(), IRQ_PIT)
        self._attach(UART16550(self.console, c.console_input or _no_input), IRQ_COM1)
        self._attach(RTC(start), IRQ_RTC)
        self._attach(DebugExit(self._debug_exit), None)
        self._attach(DebugCon(self.console), None)
        self._attach(ATADisk(c.drive), IRQ_ATA)
        for device, irq in c.extra_devices:
            self._attach(device, irq)
        self.timed = [d for d in self.bus.devices if type(d).next_deadline is not Device.next_deadline]

    def _attach(self, device, irq: int | None) -> None:
        self.bus.attach(device)
        if irq is None:
            device.attach(self.clock, _no_input, _no_input)
        else:
            pic = self.pic
            self.irq_lines.append((device, irq))
            device.attach(self.clock, lambda: pic.set_irq(irq, 1), lambda: pic.set_irq(irq, 0))

    def _debug_exit(self, status: int) -> None:
        self.ending = Stop("exit", status=status & 0xFF)
        self.cpu.request_exit()

    def _unassigned(self, kind: str, port: int, size: int, value) -> None:
        what = f"{kind} of {size} byte(s) at port {port:#x}" + ("" if value is None else f" value {value:#x}")
        self.config.log_unimp(f"unimp: {what} (no device) at rip {self.cpu.rip:#x}")

    # -- time -------------------------------------------------------------------
    def clock(self) -> int:
        """Virtual time in ns: instructions retired + time skipped by hlt (or the host clock)."""
        if self.config.realtime:
            return time.monotonic_ns() - self.host_t0
        return self.cpu.icount + self.skipped

    def _resync(self) -> None:
        """After anything that may change time, IF or the PIC: next budget, exit_request."""
        cpu = self.cpu
        now_icount = cpu.icount
        deadline = self._next_deadline()
        if self.alarm is not None or deadline is None:
            target = NEVER                # --realtime: the host alarm rings at the deadline
        else:
            target = deadline - self.skipped
        if now_icount < self.shadow_until:
            target = min(target, self.shadow_until)
        pending = self.pic.pending_vector() is not None
        deliverable = pending and cpu.eflags & IF and now_icount >= self.shadow_until
        if pending and not deliverable:
            target = min(target, now_icount + PENDING_POLL)
        cpu.exit_request = 1 if deliverable or self.ending else 0
        cpu.set_budget(min(self.user_limit, max(target, now_icount + 1)))
        if self.alarm is not None:
            self.alarm.set(deadline)      # after exit_request: a past deadline rings at once
        cpu.tsc_offset = (self.clock() - now_icount + self.tsc_offset) & MASK64   # rdtsc = virtual time

    def _next_deadline(self) -> int | None:
        """The bus's next deadline, asking only the devices that have timed events."""
        deadline = None
        for device in self.timed:
            d = device.next_deadline()
            if d is not None and (deadline is None or d < deadline):
                deadline = d
        return deadline

    def _can_wake(self) -> bool:
        """Could a device's future event become an interrupt this CPU takes? Masks and
        in-service bits cannot change while it halts, so ask a copy of the PIC what one
        more edge on each timed device's line would do."""
        for device, line in self.irq_lines:
            if device.next_deadline() is None:
                continue
            keep = {id(v): v for v in vars(self.pic).values() if callable(v)}   # wiring, not state
            probe = copy.deepcopy(self.pic, keep)
            probe.raise_irq = probe.lower_irq = _no_input
            probe.set_irq(line, 0)
            probe.set_irq(line, 1)
            if probe.pending_vector() is not None:
                return True
        return False

    def _deliverable(self) -> bool:
        return bool(self.cpu.eflags & IF) and self.cpu.icount >= self.shadow_until \
            and self.pic.pending_vector() is not None

    # -- running ----------------------------------------------------------------
    def run(self, max_insns: int | None = None, timeout: float | None = None) -> MachineResult:
        """max_insns: the instruction budget; timeout: the wall-clock budget in seconds."""
        cpu = self.cpu
        self.user_limit = NEVER if max_insns is None else cpu.icount + max_insns
        self._resync()
        try:
            with WallClockLimit(cpu, timeout), SignalWake(cpu):
                stop = self.emu.executor.run()
        except TimeLimitExpired as e:
            return MachineResult(BUDGET_STATUS, f"dbt: {e} at rip {cpu.rip:#x}")
        if stop.reason == "exit":
            return MachineResult(stop.status, self.message)
        if stop.reason == "budget":
            return MachineResult(BUDGET_STATUS, f"dbt: instruction budget of {max_insns} spent at rip {cpu.rip:#x}")
        if stop.reason == "killed":
            return MachineResult(stop.status, "dbt: killed by the debugger")
        return MachineResult(1, f"dbt: run stopped ({stop.reason}) at rip {cpu.rip:#x}")

    def close(self) -> str | None:
        """Write the screenshot and flush the devices (disk image), once, whatever ended the
        run. Returns a one-line error if the screenshot could not be written."""
        if self.closed:
            return None
        self.closed = True
        error = None
        try:
            if self.alarm is not None:
                self.alarm.stop()
            if self.config.screenshot:
                error = self._screenshot(self.config.screenshot)
        finally:
            self.bus.close()
        return error

    def _screenshot(self, path: str) -> str | None:
        from dbt.runtime.devices import vga
        try:
            vga.render_png(self.mem.peek(vga.TEXT_BASE, vga.TEXT_BYTES), path)
        except OSError as e:
            return f"dbt: --screenshot {path}: {e.strerror}"
        return None

    def _end(self, status: int, message: str | None = None) -> Stop:
        self.message = message
        return Stop("exit", status=status)

    # -- delivery ---------------------------------------------------------------
    def _deliver(self, event: Event) -> Stop | None:
        try:
            deliver(self.emu, event)
        except TripleFault as tf:
            return self._end(TRIPLE_FAULT_STATUS, f"dbt: {tf}{self._unsupported_note(tf.chain[0])}")
        self._resync()
        return None

    def _raise(self, vector: int, error: int | None, insn_len: int) -> Stop | None:
        """An exception at the instruction that just exited (rip is the next one)."""
        rip = (self.cpu.rip - insn_len) & MASK64
        return self._deliver(Event(vector, rip, error))

    def _unsupported_note(self, event: Event) -> str:
        if event.vector != UD or not event.exception:
            return ""
        desc = self.describe_insn(event.insn_rip)
        return f" ({desc})" if desc else ""

    def describe_insn(self, pc: int) -> str | None:
        """'bytes: mnemonic, not supported by dbt' when pc holds a valid insn dbt cannot lift."""
        try:
            insn, why = self.emu.translator.diagnose(pc)
        except GuestFault:
            return None
        if insn is None or why is None:
            return None                   # invalid (a real #UD), or lifted (ud2 and the like)
        return f"{bytes(insn.bytes).hex(' ')}: {insn.mnemonic} {insn.op_str}".strip() + f", not supported by dbt: {why}"

    def _byte_before_rip(self) -> int | None:
        try:
            return self.mem.peek(self.cpu.rip - 1, 1)[0]
        except GuestFault:
            return None

    def _int_length(self, next_rip: int, vector: int) -> int:
        """Length of the int n (CD ib) or int3/int1 (one byte) that ended at next_rip:
        a fault while delivering it is reported at the instruction itself."""
        try:
            before = self.mem.peek(next_rip - 2, 2)
        except GuestFault:
            return 1
        return 2 if before == bytes((0xCD, vector & 0xFF)) else 1

    # -- Services: exits ----------------------------------------------------------
    def fault(self, executor, fault: GuestFault) -> Stop | None:
        if fault.pc is None:
            fault.pc = self.cpu.rip
        event = exception_event(fault, self.mem, self._int_length)
        if self.config.log_unimp and event.vector == UD and event.exception:
            desc = self.describe_insn(event.insn_rip)
            if desc:
                self.config.log_unimp(f"unimp: #UD at rip {event.insn_rip:#x}: {desc}")
        return self._deliver(event)

    def interrupt(self, executor) -> Stop | None:
        if self.ending:
            return self.ending
        if self.alarm is not None:
            self.bus.advance(self.clock())
        if self._deliverable():
            vector = self.pic.acknowledge()
            return self._deliver(Event(vector, self.cpu.rip, exception=False))
        self._resync()
        return None

    def budget(self, executor) -> Stop | None:
        cpu = self.cpu
        if cpu.icount >= self.user_limit:
            return Stop("budget")
        self.bus.advance(self.clock())
        self._resync()
        return None

    def hlt(self, executor) -> Stop | None:
        cpu = self.cpu
        where = (cpu.rip - 1) & MASK64
        if not cpu.eflags & IF:
            return self._end(0, f"dbt: halted: hlt with interrupts disabled at rip {where:#x}")
        idle = 0
        while not self._deliverable():
            deadline = self._next_deadline()
            if deadline is None or (idle % WAKE_CHECK == 0 and not self._can_wake()):
                return self._end(0, f"dbt: halted: hlt at rip {where:#x} and no interrupt can wake the CPU")
            now = self.clock()
            if deadline > now:
                if self.config.realtime:
                    time.sleep((deadline - now) / 1e9)
                else:
                    self.skipped += deadline - now
            idle += 1
            if idle > IDLE_SPIN:
                time.sleep(IDLE_SLEEP)        # only host input can wake it: do not burn the host
            self.bus.advance(self.clock())
            if self.ending:
                return self.ending
        return self.interrupt(executor)

    def io(self, executor) -> Stop | None:
        cpu = self.cpu
        port, info = cpu.exit_addr & 0xFFFF, cpu.exit_error
        size = info & 0xFF
        if info & IO_STRING:
            stop = self._string_io(port, size, info)
            if stop is not None:
                return stop
        elif info & IO_WRITE:
            self.bus.write(port, size, cpu.rax & ((1 << (8 * size)) - 1))
        else:
            value = self.bus.read(port, size)
            cpu.rax = value if size == 4 else (cpu.rax & ~((1 << (8 * size)) - 1) & MASK64) | value
        if self.ending:
            return self.ending
        self._resync()
        return None

    def _string_io(self, port: int, size: int, info: int) -> Stop | None:
        """ins/outs: rcx elements with rep, one without; rsi/rdi step by DF. A fault stops at
        the element that faulted (registers show the progress) and is reported at the insn."""
        cpu, mem = self.cpu, self.mem
        rep = info & IO_REP
        count = cpu.rcx if rep else 1
        step = -size if cpu.df else size
        write = info & IO_WRITE
        for _ in range(count):
            try:
                if write:
                    self.bus.write(port, size, mem.load(cpu.rsi, size))
                    cpu.rsi = (cpu.rsi + step) & MASK64
                else:
                    mem.check(cpu.rdi, size, 2)
                    mem.store(cpu.rdi, size, self.bus.read(port, size))
                    cpu.rdi = (cpu.rdi + step) & MASK64
            except GuestFault as f:
                rip = self._string_insn_start()
                return self._deliver(exception_event(GuestFault(f.vector, f.addr, f.write, rip), mem))
            if rep:
                cpu.rcx -= 1
            if self.ending:
                return self.ending
        return None

    def _string_insn_start(self) -> int:
        """Where the ins/outs that exited began: the longest decoding ending at rip that agrees."""
        rip = self.cpu.rip
        for length in range(4, 0, -1):
            try:
                insn = self.emu.translator.decode_one(rip - length)
            except GuestFault:
                continue
            if insn is not None and insn.size == length and insn.mnemonic.split()[-1].startswith(("ins", "outs")):
                return rip - length
        return rip - 1

    def helper(self, executor) -> Stop | None:
        which = self.cpu.exit_vector
        if which == Helper.RDMSR:
            return self._rdmsr()
        if which == Helper.WRMSR:
            return self._wrmsr()
        if which == Helper.VMCALL:
            return self._hypercall()
        if which == Helper.IRQ_WINDOW:
            if self.pic.pending_vector() is not None and self._byte_before_rip() == STI_OPCODE:
                self.shadow_until = self.cpu.icount + 1      # sti: one more instruction first
            self._resync()
            return None
        raise RuntimeError(f"unknown helper exit {which}")

    # -- MSRs -------------------------------------------------------------------
    def _rdmsr(self) -> Stop | None:
        cpu = self.cpu
        number = cpu.rcx & 0xFFFFFFFF
        if number == MSR_TSC:
            value = self.clock() + self.tsc_offset
        elif number == MSR_EFER:
            value = cpu.efer
        elif number == MSR_FS_BASE:
            value = cpu.fs_base
        elif number == MSR_GS_BASE:
            value = cpu.gs_base
        elif number == MSR_KERNEL_GS_BASE:
            value = self.kernel_gs_base
        else:
            return self._raise(GP, 0, 2)
        value &= MASK64
        cpu.rax, cpu.rdx = value & 0xFFFFFFFF, value >> 32
        self._resync()
        return None

    def _wrmsr(self) -> Stop | None:
        cpu = self.cpu
        number = cpu.rcx & 0xFFFFFFFF
        value = ((cpu.rdx & 0xFFFFFFFF) << 32) | (cpu.rax & 0xFFFFFFFF)
        if number == MSR_TSC:
            self.tsc_offset = value - self.clock()
        elif number == MSR_EFER:
            if value & ~(EFER_WRITABLE | EFER_LMA):
                return self._raise(GP, 0, 2)
            cpu.efer = (value & EFER_WRITABLE) | (cpu.efer & EFER_LMA)
        elif number in (MSR_FS_BASE, MSR_GS_BASE, MSR_KERNEL_GS_BASE):
            if not _canonical(value):
                return self._raise(GP, 0, 2)
            if number == MSR_FS_BASE:
                cpu.fs_base = value
            elif number == MSR_GS_BASE:
                cpu.gs_base = value
            else:
                self.kernel_gs_base = value
        else:
            return self._raise(GP, 0, 2)
        self._resync()
        return None

    # -- hypercalls ---------------------------------------------------------------
    def _hypercall(self) -> Stop | None:
        cpu = self.cpu
        number = cpu.rax
        if number == HC_VERSION:
            cpu.rax = HYPERCALL_VERSION
        elif number == HC_CONSOLE_WRITE:
            try:
                data = self.mem.read(cpu.rdi, cpu.rsi) if cpu.rsi else b""
            except GuestFault:
                cpu.rax = MASK64
            else:
                self.console(data)
                cpu.rax = len(data)
        elif number == HC_EXIT:
            return self._end(cpu.rdi & 0xFF)
        elif number == HC_TIME:
            cpu.rax = self.clock() & MASK64
        else:
            cpu.rax = MASK64
        self._resync()
        return None


def _canonical(addr: int) -> bool:
    top = addr >> 47
    return top == 0 or top == (1 << 17) - 1

