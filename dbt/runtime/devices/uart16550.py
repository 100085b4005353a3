"""A 16550A UART (COM1: 0x3F8-0x3FF, IRQ 4) between the guest and the host console.

THR writes go straight to `output` (bytes, unbuffered); transmission takes no
time, so LSR always shows the transmitter empty (bits 5 and 6). RBR reads
come from `input_source`, a non-blocking callable returning the next byte or
None. Interrupts as on the 16550A (priority: line status, received data, THR
empty, modem status), reported in IIR; the IRQ line follows the highest
enabled pending one. As in QEMU, MCR OUT2 does not gate the IRQ line, the FIFO
trigger level is ignored (received data interrupts from the first byte), and
the baud rate (divisor latch) is stored but has no effect. MCR bit 4 (loopback)
sends THR bytes back to RBR instead of the console, and MSR then mirrors MCR.
While the received data interrupt is enabled and nothing waits, the UART asks
to be woken every POLL_NS of virtual time to look for input, unless the
source says no more will come (an attribute `closed` that is true: host EOF).
"""
import collections

from dbt.runtime.devices.bus import Device

BASE = 0x3F8
RBR_THR_DLL, IER_DLM, IIR_FCR, LCR, MCR, LSR, MSR, SCR = range(8)

IER_RDI, IER_THRI, IER_RLSI, IER_MSI = 0x01, 0x02, 0x04, 0x08
IIR_NO_INT, IIR_MSI, IIR_THRI, IIR_RDI, IIR_RLSI = 0x01, 0x00, 0x02, 0x04, 0x06
IIR_FIFO_ENABLED = 0xC0
FCR_ENABLE, FCR_CLEAR_RX, FCR_CLEAR_TX = 0x01, 0x02, 0x04
LCR_DLAB = 0x80
MCR_DTR, MCR_RTS, MCR_OUT1, MCR_OUT2, MCR_LOOP = 0x01, 0x02, 0x04, 0x08, 0x10
LSR_DR, LSR_OE, LSR_THRE, LSR_TEMT = 0x01, 0x02, 0x20, 0x40
MSR_DCTS, MSR_DDSR, MSR_TERI, MSR_DDCD = 0x01, 0x02, 0x04, 0x08
MSR_CTS, MSR_DSR, MSR_RI, MSR_DCD = 0x10, 0x20, 0x40, 0x80
MSR_CONNECTED = MSR_DCD | MSR_DSR | MSR_CTS     # a host console is always there
FIFO_SIZE = 16
POLL_NS = 1_000_000                             # input poll period while RX interrupts wait


def no_input():
    return None


class UART16550(Device):
    name = "uart16550"

    def __init__(self, output, input_source=no_input, base: int = BASE):
        self.output = output                     # callable(bytes)
        self.input_source = input_source         # callable() -> int | None
        self.base = base
        self.ports = ((base, base + 7),)
        self.clock = lambda: 0
        self.raise_irq = self.lower_irq = lambda: None
        self.reset()

    def reset(self) -> None:
        self.divisor = 12                        # 9600 baud
        self.ier = self.lcr = self.mcr = self.scr = 0
        self.fcr = 0
        self.msr = MSR_CONNECTED
        self.lsr_errors = 0                      # overrun, reported once then cleared
        self.rx = collections.deque()
        self.thr_pending = False                 # the THR empty interrupt is latched
        self.irq_level = False

    # -- receive side ----------------------------------------------------------
    def _rx_capacity(self) -> int:
        return FIFO_SIZE if self.fcr & FCR_ENABLE else 1

    def _fill(self) -> None:
        """Pull waiting host input into the receiver (never blocks)."""
        if self.mcr & MCR_LOOP:
            return                               # in loopback the line is cut from the host
        while len(self.rx) < self._rx_capacity():
            byte = self.input_source()
            if byte is None:
                break
            self.rx.append(byte & 0xFF)

    def _receive(self, byte: int) -> None:
        if len(self.rx) >= self._rx_capacity():
            self.lsr_errors |= LSR_OE            # overrun: a full FIFO loses the new byte,
            if self.fcr & FCR_ENABLE:            # a lone holding register the old one
                return
            self.rx.clear()
        self.rx.append(byte)

    # -- interrupts ------------------------------------------------------------
    def _pending(self) -> int:
        """The IIR interrupt identification of the highest-priority enabled interrupt."""
        if self.ier & IER_RLSI and self.lsr_errors:
            return IIR_RLSI
        if self.ier & IER_RDI and self.rx:
            return IIR_RDI
        if self.ier & IER_THRI and self.thr_pending:
            return IIR_THRI
        if self.ier & IER_MSI and self.msr & 0x0F:
            return IIR_MSI
        return IIR_NO_INT

    def _update_irq(self) -> None:
        level = self._pending() != IIR_NO_INT
        if level != self.irq_level:
            self.irq_level = level
            (self.raise_irq if level else self.lower_irq)()

    def next_deadline(self) -> int | None:
        if self.ier & IER_RDI and not self.rx and not self.mcr & MCR_LOOP \
                and not getattr(self.input_source, "closed", False):
            return (self.clock() // POLL_NS + 1) * POLL_NS
        return None

    def advance(self, now: int) -> None:
        if self.ier & IER_RDI:
            self._fill()
            self._update_irq()

    # -- registers -------------------------------------------------------------
    def _lsr(self) -> int:
        self._fill()
        return LSR_THRE | LSR_TEMT | self.lsr_errors | (LSR_DR if self.rx else 0)

    def _msr(self) -> int:
        if self.mcr & MCR_LOOP:
            m = self.mcr
            return ((m & MCR_OUT2) << 4 | (m & MCR_OUT1) << 4 | (m & MCR_RTS) << 3
                    | (m & MCR_DTR) << 5 | (self.msr & 0x0F))
        return self.msr

    def read(self, port: int, size: int) -> int:
        reg = port - self.base
        if reg == RBR_THR_DLL:
            if self.lcr & LCR_DLAB:
                return self.divisor & 0xFF
            self._fill()
            value = self.rx.popleft() if self.rx else 0
            self._fill()
            self._update_irq()
            return value
        if reg == IER_DLM:
            return (self.divisor >> 8) if self.lcr & LCR_DLAB else self.ier
        if reg == IIR_FCR:
            self._fill()
            iir = self._pending()
            if iir == IIR_THRI:
                self.thr_pending = False         # reading IIR acknowledges THR empty
                self._update_irq()
            return iir | (IIR_FIFO_ENABLED if self.fcr & FCR_ENABLE else 0)
        if reg == LCR:
            return self.lcr
        if reg == MCR:
            return self.mcr
        if reg == LSR:
            value = self._lsr()
            self.lsr_errors = 0                  # reading LSR clears the error bits
            self._update_irq()
            return value
        if reg == MSR:
            value = self._msr()
            self.msr &= 0xF0                     # reading MSR clears the delta bits
            self._update_irq()
            return value
        return self.scr

    def write(self, port: int, size: int, value: int) -> None:
        reg, value = port - self.base, value & 0xFF
        if reg == RBR_THR_DLL:
            if self.lcr & LCR_DLAB:
                self.divisor = (self.divisor & 0xFF00) | value
                return
            self.thr_pending = False
            self._update_irq()                   # the line drops while the byte goes out...
            if self.mcr & MCR_LOOP:
                self._receive(value)
            else:
                self.output(bytes((value,)))
            self.thr_pending = True              # ...and THR is empty again at once
            self._update_irq()
        elif reg == IER_DLM:
            if self.lcr & LCR_DLAB:
                self.divisor = (self.divisor & 0x00FF) | (value << 8)
                return
            changed = (self.ier ^ value) & 0x0F
            self.ier = value & 0x0F
            if changed & IER_THRI and self.ier & IER_THRI:
                self.thr_pending = True          # enabling THRI with THR empty interrupts at once
            self._fill()
            self._update_irq()
        elif reg == IIR_FCR:
            if (value ^ self.fcr) & FCR_ENABLE:
                value |= FCR_CLEAR_RX | FCR_CLEAR_TX   # toggling the FIFOs clears them
            if value & FCR_CLEAR_RX:
                self.rx.clear()
            self.fcr = value & 0xC9                    # enable, DMA mode, trigger level
            self._update_irq()
        elif reg == LCR:
            self.lcr = value
        elif reg == MCR:
            self.mcr = value & 0x1F
            self._update_irq()
        elif reg == SCR:
            self.scr = value
        # LSR and MSR writes are ignored (factory test registers)
