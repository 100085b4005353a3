"""8259A PIC pair driven as a guest (ports) and as the CPU (pending_vector/acknowledge) would:
the ICW1-ICW4 initialisation, priority, masking, EOI and the slave on IRQ 2 (8259A datasheet)."""
import pytest

from dbt.runtime.devices.pic8259 import PICPair

M_CMD, M_DATA, S_CMD, S_DATA = 0x20, 0x21, 0xA0, 0xA1
EOI = 0x20
READ_IRR, READ_ISR = 0x0A, 0x0B


def init(bus, master_base=0x20, slave_base=0x28):
    """The initialisation every PC kernel does (edge triggered, cascade, 8086 mode)."""
    bus.write(M_CMD, 1, 0x11)
    bus.write(S_CMD, 1, 0x11)
    bus.write(M_DATA, 1, master_base)
    bus.write(S_DATA, 1, slave_base)
    bus.write(M_DATA, 1, 0x04)         # a slave on IR2
    bus.write(S_DATA, 1, 0x02)         # cascade identity 2
    bus.write(M_DATA, 1, 0x01)
    bus.write(S_DATA, 1, 0x01)


@pytest.fixture
def pic(plug, bus):
    device = PICPair()
    device.int_line = plug(device)
    init(bus)
    return device


def pulse(pic, line):
    pic.set_irq(line, 1)
    pic.set_irq(line, 0)


def regs(bus, cmd):
    bus.write(cmd, 1, READ_IRR)
    irr = bus.read(cmd, 1)
    bus.write(cmd, 1, READ_ISR)
    isr = bus.read(cmd, 1)
    return irr, isr


def test_init_leaves_all_unmasked_and_idle(pic, bus):
    assert bus.read(M_DATA, 1) == 0x00 and bus.read(S_DATA, 1) == 0x00
    assert pic.pending_vector() is None
    assert regs(bus, M_CMD) == (0, 0)


def test_vector_offsets_as_programmed(plug, bus):
    pic = PICPair()
    plug(pic)
    init(bus, master_base=0x77, slave_base=0x70)      # low 3 bits are the IRQ number
    pulse(pic, 5)
    assert pic.acknowledge() == 0x75
    pulse(pic, 9)
    assert pic.pending_vector() == 0x71


def test_request_acknowledge_eoi(pic, bus):
    pulse(pic, 0)
    assert pic.int_line.level
    assert regs(bus, M_CMD) == (0x01, 0x00)
    assert pic.pending_vector() == 0x20
    assert pic.acknowledge() == 0x20
    assert regs(bus, M_CMD) == (0x00, 0x01)           # IRR -> ISR
    assert not pic.int_line.level
    assert pic.pending_vector() is None
    bus.write(M_CMD, 1, EOI)
    assert regs(bus, M_CMD) == (0, 0)


def test_priority_and_nesting(pic, bus):
    pulse(pic, 3)
    pulse(pic, 1)
    assert pic.acknowledge() == 0x21                  # IRQ 1 before IRQ 3
    assert pic.pending_vector() is None               # IRQ 3 waits behind IRQ 1 in service
    pulse(pic, 0)
    assert pic.acknowledge() == 0x20                  # a higher priority nests
    bus.write(M_CMD, 1, EOI)                          # non-specific: ends IRQ 0 (the highest)
    assert regs(bus, M_CMD) == (0x08, 0x02)
    assert pic.pending_vector() is None
    bus.write(M_CMD, 1, EOI)
    assert pic.acknowledge() == 0x23


def test_mask_holds_the_request_until_unmasked(pic, bus):
    bus.write(M_DATA, 1, 0xFF & ~0x04)                # all masked but the cascade
    assert bus.read(M_DATA, 1) == 0xFB
    pulse(pic, 4)
    assert pic.pending_vector() is None and not pic.int_line.level
    assert regs(bus, M_CMD)[0] == 0x10                # requested all the same
    bus.write(M_DATA, 1, 0xEB)
    assert pic.pending_vector() == 0x24 and pic.int_line.level


def test_slave_irqs_rank_as_irq2(pic, bus):
    pulse(pic, 3)
    pulse(pic, 12)
    pulse(pic, 1)
    assert pic.acknowledge() == 0x21
    bus.write(M_CMD, 1, EOI)
    assert pic.acknowledge() == 0x2C                  # IRQ 12 (through IR2) beats IRQ 3
    assert regs(bus, M_CMD) == (0x08, 0x04)
    assert regs(bus, S_CMD) == (0x00, 0x10)
    assert pic.pending_vector() is None
    bus.write(S_CMD, 1, EOI)
    bus.write(M_CMD, 1, EOI)
    assert regs(bus, S_CMD) == (0, 0)
    assert pic.acknowledge() == 0x23


def test_slave_priority_among_its_own(pic, bus):
    pulse(pic, 14)
    pulse(pic, 8)
    assert pic.acknowledge() == 0x28
    bus.write(S_CMD, 1, EOI)
    bus.write(M_CMD, 1, EOI)
    assert pic.acknowledge() == 0x2E


def test_masking_the_cascade_blocks_the_slave(pic, bus):
    bus.write(M_DATA, 1, 0x04)
    pulse(pic, 10)
    assert pic.pending_vector() is None
    bus.write(M_DATA, 1, 0x00)
    assert pic.pending_vector() == 0x2A
    bus.write(S_DATA, 1, 0x04)                        # masked on the slave: INT drops
    assert regs(bus, S_CMD)[0] == 0x04


def test_edge_triggered(pic, bus):
    pic.set_irq(0, 1)
    assert pic.acknowledge() == 0x20
    bus.write(M_CMD, 1, EOI)
    assert pic.pending_vector() is None               # still high: no new edge
    pic.set_irq(0, 1)
    assert pic.pending_vector() is None
    pic.set_irq(0, 0)
    pic.set_irq(0, 1)
    assert pic.pending_vector() == 0x20


def test_request_survives_line_drop_before_ack(pic):
    pulse(pic, 6)                                     # as QEMU: IRR stays set in edge mode
    assert pic.pending_vector() == 0x26


def test_spurious_acknowledge(pic):
    assert pic.acknowledge() == 0x27


def test_specific_eoi_and_isr_readback(pic, bus):
    pulse(pic, 1)
    pulse(pic, 5)
    assert pic.acknowledge() == 0x21
    bus.write(M_CMD, 1, READ_ISR)
    assert bus.read(M_CMD, 1) == 0x02
    assert bus.read(M_CMD, 1) == 0x02                 # the selection stays until changed
    bus.write(M_CMD, 1, 0x60 | 1)                     # specific EOI for IR1
    assert bus.read(M_CMD, 1) == 0x00
    assert pic.acknowledge() == 0x25


def test_poll_command(pic, bus):
    pulse(pic, 3)
    bus.write(M_CMD, 1, 0x0C)                         # OCW3 poll
    assert bus.read(M_CMD, 1) == 0x83                 # interrupt, level 3, now in service
    assert regs(bus, M_CMD) == (0x00, 0x08)


def test_auto_eoi(plug, bus):
    pic = PICPair()
    plug(pic)
    bus.write(M_CMD, 1, 0x11)
    bus.write(M_DATA, 1, 0x40)
    bus.write(M_DATA, 1, 0x04)
    bus.write(M_DATA, 1, 0x03)                        # 8086 mode, auto EOI
    pulse(pic, 1)
    assert pic.acknowledge() == 0x41
    assert regs(bus, M_CMD) == (0, 0)                 # nothing left in service


def test_devices_reach_the_cpu_through_the_pic(pic, bus, clock):
    """UART IRQ 4 and PIT IRQ 0 wired as the machine does: delivered in priority order."""
    from dbt.runtime.devices.pit8254 import PIT8254
    from dbt.runtime.devices.uart16550 import UART16550
    uart, pit = UART16550(lambda data: None), PIT8254()
    uart.attach(clock, lambda: pic.set_irq(4, 1), lambda: pic.set_irq(4, 0))
    pit.attach(clock, lambda: pic.set_irq(0, 1), lambda: pic.set_irq(0, 0))
    bus.attach(uart)
    bus.attach(pit)
    bus.write(0x3F9, 1, 0x02)                         # UART: THR empty interrupt
    bus.write(0x43, 1, 0x34)                          # PIT channel 0, mode 2, lo/hi
    bus.write(0x40, 1, 100)
    bus.write(0x40, 1, 0)
    clock.now = bus.next_deadline()
    bus.advance(clock.now)
    assert pic.acknowledge() == 0x20                  # the timer first
    bus.write(M_CMD, 1, EOI)
    assert pic.acknowledge() == 0x24
