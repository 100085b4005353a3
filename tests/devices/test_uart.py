"""16550A UART (COM1) driven through the bus as a guest would: output, LSR, loopback, DLAB,
interrupt identification and the IRQ 4 line, against the 16550A datasheet."""
import collections

import pytest

from dbt.runtime.devices.uart16550 import POLL_NS, UART16550

COM1 = 0x3F8
THR = RBR = DLL = COM1
IER = DLM = COM1 + 1
IIR = FCR = COM1 + 2
LCR, MCR, LSR, MSR, SCR = COM1 + 3, COM1 + 4, COM1 + 5, COM1 + 6, COM1 + 7


class Host:
    """The console and stdin of the host: output chunks, and input bytes waiting."""

    def __init__(self):
        self.chunks = []
        self.pending = collections.deque()

    def output(self, data: bytes):
        self.chunks.append(data)

    def input(self):
        return self.pending.popleft() if self.pending else None


@pytest.fixture
def host():
    return Host()


@pytest.fixture
def uart(host, plug):
    device = UART16550(host.output, host.input)
    device.line = plug(device)
    return device


def test_thr_bytes_reach_console_one_by_one(uart, host, bus):
    for byte in b"Hi!\n\x00\xff":
        bus.write(THR, 1, byte)
    assert b"".join(host.chunks) == b"Hi!\n\x00\xff"
    assert all(len(chunk) == 1 for chunk in host.chunks)      # unbuffered: one write per byte


def test_lsr_transmitter_always_empty_and_data_ready(uart, host, bus):
    assert bus.read(LSR, 1) == 0x60                  # THRE | TEMT, nothing received
    bus.write(THR, 1, ord("x"))
    assert bus.read(LSR, 1) == 0x60                  # transmission takes no time
    host.pending.extend(b"ok")
    assert bus.read(LSR, 1) == 0x61                  # DR
    assert bus.read(RBR, 1) == ord("o")
    assert bus.read(LSR, 1) == 0x61
    assert bus.read(RBR, 1) == ord("k")
    assert bus.read(LSR, 1) == 0x60
    assert bus.read(RBR, 1) == 0                     # nothing there: no byte invented


def test_mcr_loopback_returns_output_bytes_and_mirrors_msr(uart, host, bus):
    bus.write(FCR, 1, 0x07)                          # FIFO on, both cleared
    bus.write(MCR, 1, 0x10 | 0x0B)                   # loopback, OUT2, RTS, DTR
    for byte in b"loop":
        bus.write(THR, 1, byte)
    assert host.chunks == []                         # nothing leaves the chip in loopback
    received = []
    while bus.read(LSR, 1) & 0x01:
        received.append(bus.read(RBR, 1))
    assert bytes(received) == b"loop"
    assert bus.read(MSR, 1) & 0xF0 == 0x80 | 0x10 | 0x20   # DCD=OUT2, CTS=RTS, DSR=DTR
    bus.write(MCR, 1, 0x0B)
    bus.write(THR, 1, ord("!"))
    assert host.chunks == [b"!"]
    assert bus.read(MSR, 1) == 0xB0                  # a connected host: DCD, DSR, CTS


def test_loopback_overrun_without_fifo(uart, bus):
    bus.write(MCR, 1, 0x10)
    bus.write(THR, 1, 1)
    bus.write(THR, 1, 2)                             # one holding register: overrun
    assert bus.read(LSR, 1) == 0x60 | 0x02 | 0x01    # OE reported once
    assert bus.read(LSR, 1) == 0x61
    assert bus.read(RBR, 1) == 2                     # the newer byte replaced the older


def test_divisor_latch_is_separate_from_thr_and_ier(uart, host, bus):
    bus.write(IER, 1, 0x05)
    bus.write(LCR, 1, 0x83)                          # DLAB, 8N1
    bus.write(DLL, 1, 0x01)                          # 115200 baud
    bus.write(DLM, 1, 0x00)
    assert (bus.read(DLL, 1), bus.read(DLM, 1)) == (0x01, 0x00)
    assert host.chunks == []                         # the DLL write was not transmitted
    bus.write(LCR, 1, 0x03)
    assert bus.read(LCR, 1) == 0x03
    assert bus.read(IER, 1) == 0x05
    bus.write(THR, 1, ord("a"))
    assert host.chunks == [b"a"]


def test_scratch_and_modem_control_read_back(uart, bus):
    bus.write(SCR, 1, 0x5A)
    bus.write(MCR, 1, 0xFF)
    assert bus.read(SCR, 1) == 0x5A
    assert bus.read(MCR, 1) == 0x1F                  # bits 5-7 are always zero on a 16550A


def test_iir_fifo_bits(uart, bus):
    assert bus.read(IIR, 1) == 0x01                  # no interrupt, FIFOs off
    bus.write(FCR, 1, 0x01)
    assert bus.read(IIR, 1) == 0xC1                  # 16550A with FIFOs enabled
    bus.write(FCR, 1, 0x00)
    assert bus.read(IIR, 1) == 0x01


def test_thr_empty_interrupt(uart, bus):
    line = uart.line
    assert not line.level
    bus.write(IER, 1, 0x02)                          # THRI with THR empty: interrupts at once
    assert line.level and len(line.rises) == 1
    assert bus.read(IIR, 1) == 0x02
    assert not line.level                            # reading IIR acknowledged it
    assert bus.read(IIR, 1) == 0x01
    bus.write(THR, 1, ord("z"))                      # the byte goes out: THR empty again
    assert line.level and len(line.rises) == 2
    bus.write(IER, 1, 0x00)
    assert not line.level


def test_received_data_interrupt_and_priority(uart, host, bus, clock):
    line = uart.line
    bus.write(IER, 1, 0x01)
    assert not line.level
    deadline = uart.next_deadline()                  # the UART asks to look for input
    assert deadline == POLL_NS
    host.pending.extend(b"ab")
    clock.now = deadline
    uart.advance(clock.now)
    assert line.level
    bus.write(IER, 1, 0x03)                          # THR empty is pending too, but ranks lower
    assert bus.read(IIR, 1) == 0x04
    assert bus.read(RBR, 1) == ord("a")
    assert bus.read(IIR, 1) == 0x04
    assert bus.read(RBR, 1) == ord("b")
    assert bus.read(IIR, 1) == 0x02                  # now the THR empty one
    assert bus.read(IIR, 1) == 0x01
    assert not line.level
    assert uart.next_deadline() == 2 * POLL_NS


def test_no_poll_deadline_unless_receive_interrupts_are_on(uart, bus):
    assert uart.next_deadline() is None
    bus.write(IER, 1, 0x02)
    assert uart.next_deadline() is None


def test_no_poll_deadline_after_end_of_input(bus, plug):
    class Source:
        closed = False

        def __call__(self):
            return None
    source = Source()
    uart = UART16550(lambda data: None, source)
    plug(uart)
    bus.write(IER, 1, 0x01)
    assert uart.next_deadline() == POLL_NS
    source.closed = True                  # host EOF: a guest halting for input would wait forever
    assert uart.next_deadline() is None
