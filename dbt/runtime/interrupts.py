"""Event delivery through the long-mode IDT: exceptions, software and external interrupts.

An event becomes an interrupt frame on the current stack (aligned to 16,
then SS, RSP, RFLAGS, CS, RIP and, for the vectors that have one, an error
code) and a jump to the gate's handler. A fault while delivering follows the
x86 double-fault rules (SDM Vol. 3 Table 6-5); a fault while delivering #DF
is a triple fault, raised as TripleFault for the machine to end the run.
Gate checks are QEMU's (do_interrupt64): beyond the IDT limit or not an
interrupt/trap gate: #GP(vector*8+2); not present: #NP(vector*8+2).
"""
import struct
from dataclasses import dataclass

from dbt.runtime.cpu import IF, TF
from dbt.runtime.memory import W, GuestFault

UD, DF, NP, GP, PF = 6, 8, 11, 13, 14
NAMES = {0: "#DE", 1: "#DB", 2: "NMI", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD", 7: "#NM", 8: "#DF",
         10: "#TS", 11: "#NP", 12: "#SS", 13: "#GP", 14: "#PF", 16: "#MF", 17: "#AC", 18: "#MC",
         19: "#XM", 21: "#CP"}
HAS_ERROR_CODE = frozenset({8, 10, 11, 12, 13, 14, 17, 21})
CONTRIBUTORY = frozenset({0, 10, 11, 12, 13})
INTERRUPT_GATE, TRAP_GATE = 0xE, 0xF
KERNEL_CS, KERNEL_SS = 0x08, 0x10
NT, RF = 1 << 14, 1 << 16
PF_PRESENT, PF_WRITE = 1, 2
MASK64 = (1 << 64) - 1


@dataclass
class Event:
    """One thing to deliver. `rip` is pushed; `insn_rip` is what a fault in delivery reports."""
    vector: int
    rip: int
    error: int | None = None      # pushed error code (exceptions that have one)
    insn_rip: int | None = None   # defaults to rip (differs for int n: rip is the next insn)
    cr2: int | None = None        # #PF: the faulting address
    exception: bool = True        # False for int n and IRQs: never an error code, never #DF rules

    def __post_init__(self):
        if self.insn_rip is None:
            self.insn_rip = self.rip


class TripleFault(Exception):
    """Delivering #DF faulted: the machine shuts down."""

    def __init__(self, chain: list[Event]):
        self.chain = chain
        first = chain[0]
        path = " -> ".join(describe(e.vector) for e in chain)
        super().__init__(f"triple fault at rip {first.insn_rip:#x}: {path} could not be delivered")


class _DeliveryFault(Exception):
    def __init__(self, vector: int, error: int, cr2: int | None = None):
        super().__init__(vector)
        self.vector, self.error, self.cr2 = vector, error, cr2


def describe(vector: int) -> str:
    name = NAMES.get(vector)
    return f"{name} (vector {vector})" if name else f"vector {vector}"


def page_fault_error(mem, addr: int, write: bool) -> int:
    """#PF error code: bit 1 for a write, bit 0 when the page is present (a protection fault)."""
    return (PF_WRITE if write else 0) | (PF_PRESENT if mem.is_mapped(addr) else 0)


def exception_event(fault: GuestFault, mem, software_insn_len=None) -> Event:
    """The Event for a GuestFault from the engine. Software interrupts (int n) push the next
    rip and no error code; `software_insn_len(next_rip, vector)` says how long the int was."""
    if fault.software:
        back = software_insn_len(fault.pc, fault.vector) if software_insn_len else 2
        return Event(fault.vector, fault.pc, insn_rip=fault.pc - back, exception=False)
    if fault.vector == PF:
        return Event(PF, fault.pc, page_fault_error(mem, fault.addr, fault.write), cr2=fault.addr)
    error = (fault.error & 0xFFFF) if fault.vector in HAS_ERROR_CODE else None
    return Event(fault.vector, fault.pc, error)


def _becomes_double_fault(first: int, second: int) -> bool:
    """SDM Table 6-5: contributory then contributory, or #PF then contributory/#PF."""
    if first == PF:
        return second == PF or second in CONTRIBUTORY
    return first in CONTRIBUTORY and second in CONTRIBUTORY


def deliver(emu, event: Event) -> None:
    """Deliver `event`, with the double/triple fault rules; raises TripleFault."""
    chain = [event]
    current = event
    while True:
        try:
            _deliver_once(emu, current)
            return
        except _DeliveryFault as nested:
            if current.exception and current.vector == DF:
                chain.append(Event(nested.vector, event.insn_rip))
                raise TripleFault(chain) from None
            if current.exception and _becomes_double_fault(current.vector, nested.vector):
                current = Event(DF, event.insn_rip, 0)
            else:
                current = Event(nested.vector, event.insn_rip, nested.error, cr2=nested.cr2)
            chain.append(current)


def _deliver_once(emu, ev: Event) -> None:
    cpu, mem = emu.cpu, emu.mem
    if emu.trace is not None:
        emu.trace.delivery(ev.vector, ev.insn_rip, ev.error, ev.cr2, "exception" if ev.exception else (
            "int n" if ev.rip != ev.insn_rip else "external"))
    if ev.cr2 is not None:
        cpu.cr2 = ev.cr2 & MASK64
    v = ev.vector
    if v * 16 + 15 > cpu.idt_limit:
        raise _DeliveryFault(GP, v * 8 + 2)
    gate_addr = (cpu.idt_base + 16 * v) & MASK64
    try:
        gate = mem.read(gate_addr, 16)
    except GuestFault as f:
        raise _DeliveryFault(PF, page_fault_error(mem, f.addr, False), f.addr) from None
    low, selector, _ist, attrs, mid, high, _reserved = struct.unpack("<HHBBHII", gate)
    kind = attrs & 0x1F
    if kind not in (INTERRUPT_GATE, TRAP_GATE):
        raise _DeliveryFault(GP, v * 8 + 2)
    if not attrs & 0x80:
        raise _DeliveryFault(NP, v * 8 + 2)
    handler = low | (mid << 16) | (high << 32)
    if not _canonical(handler):
        raise _DeliveryFault(GP, 0)
    old_rsp = cpu.rsp
    frame = [ev.rip & MASK64, KERNEL_CS, emu.rflags, old_rsp, KERNEL_SS]
    if ev.error is not None:
        frame.insert(0, ev.error)
    new_rsp = ((old_rsp & ~0xF) - 8 * len(frame)) & MASK64
    payload = struct.pack(f"<{len(frame)}Q", *frame)
    try:
        mem.check(new_rsp, len(payload), W)
    except GuestFault as f:
        raise _DeliveryFault(PF, page_fault_error(mem, f.addr, True), f.addr) from None
    mem.write(new_rsp, payload)
    cpu.rsp = new_rsp
    cpu.rip = handler
    clear = TF | NT | RF | (IF if kind == INTERRUPT_GATE else 0)
    cpu.eflags &= ~clear & MASK64


def _canonical(addr: int) -> bool:
    top = addr >> 47
    return top == 0 or top == (1 << 17) - 1
