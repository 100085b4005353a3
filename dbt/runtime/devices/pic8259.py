"""The 8259A PIC pair of a PC: master at 0x20-0x21 (IRQ 0-7), slave at 0xA0-0xA1 (IRQ 8-15).

The slave's INT output drives the master's IR2 (cascade), so IRQ 8-15 take
the priority of IRQ 2. Inputs are edge-triggered: a rising edge sets IRR, and
IRR stays set until the interrupt is acknowledged even if the line drops (as
QEMU's i8259). The CPU side: `pending_vector()` is the vector an INTA cycle
would return now (None when INT is low), `acknowledge()` is that cycle
(IRR -> ISR, or the spurious IRQ 7/15 vector). The machine hands the pair an
INT line at attach: `raise_irq`/`lower_irq` follow the master's INT output.
Supported: ICW1-ICW4 (edge mode, cascade; single mode accepted), OCW1 masks,
OCW2 non-specific/specific EOI, rotation and set-priority, OCW3 IRR/ISR read,
poll and special mask, auto-EOI and special fully nested mode.
"""
from dbt.runtime.devices.bus import Device

CASCADE_IRQ = 2
SPURIOUS_IRQ = 7
NO_IRQ = 8                 # priority "none" in the 0..7 priority scale


class PIC8259:
    """One 8259A chip. `irq` numbers here are its inputs 0..7."""

    def __init__(self, is_master: bool):
        self.is_master = is_master
        self.imr = self.irr = self.isr = 0
        self.last_input = 0       # input levels, for edge detection
        self.reset()

    def reset(self) -> None:
        """The state after ICW1 (and power-on): masks, requests and in-service all clear."""
        self.last_input = 0
        self.irr = self.imr = self.isr = 0
        self.priority_add = 0     # rotation: the lowest-numbered input has the highest priority
        self.vector_base = 0
        self.read_isr = False     # OCW3: the even port reads ISR instead of IRR
        self.poll = False
        self.special_mask = False
        self.init_state = 0       # 0: ready; 1/2/3: waiting for ICW2/ICW3/ICW4
        self.need_icw4 = False
        self.single = False
        self.auto_eoi = False
        self.rotate_on_auto_eoi = False
        self.special_fully_nested = False

    # -- priority --------------------------------------------------------------
    def _priority(self, mask: int) -> int:
        """Priority level (0 = highest) of the best input in `mask`, NO_IRQ if empty."""
        if mask == 0:
            return NO_IRQ
        level = 0
        while not mask & (1 << ((level + self.priority_add) & 7)):
            level += 1
        return level

    def best_irq(self) -> int | None:
        """The input this chip would signal now: requested, unmasked, above everything in service."""
        level = self._priority(self.irr & ~self.imr)
        if level == NO_IRQ:
            return None
        in_service = self.isr
        if self.special_mask:
            in_service &= ~self.imr
        if self.special_fully_nested and self.is_master:
            in_service &= ~(1 << CASCADE_IRQ)     # the slave may nest its own IRQs
        if level < self._priority(in_service):
            return (level + self.priority_add) & 7
        return None

    # -- lines -----------------------------------------------------------------
    def set_input(self, irq: int, level: bool) -> None:
        bit = 1 << irq
        if level:
            if not self.last_input & bit:
                self.irr |= bit                   # rising edge
            self.last_input |= bit
        else:
            self.last_input &= ~bit

    def intack(self, irq: int) -> None:
        """The INTA cycle for `irq`: into service (unless auto-EOI), request consumed."""
        bit = 1 << irq
        if self.auto_eoi:
            if self.rotate_on_auto_eoi:
                self.priority_add = (irq + 1) & 7
        else:
            self.isr |= bit
        self.irr &= ~bit

    # -- ports -----------------------------------------------------------------
    def write(self, a0: int, value: int) -> None:
        if a0 == 0:
            if value & 0x10:                      # ICW1
                self.reset()
                self.init_state = 1
                self.need_icw4 = bool(value & 0x01)
                self.single = bool(value & 0x02)
            elif value & 0x08:                    # OCW3
                if value & 0x04:
                    self.poll = True
                if value & 0x02:
                    self.read_isr = bool(value & 0x01)
                if value & 0x40:
                    self.special_mask = bool(value & 0x20)
            else:                                 # OCW2
                self._ocw2(value)
            return
        if self.init_state == 0:                  # OCW1
            self.imr = value
        elif self.init_state == 1:                # ICW2
            self.vector_base = value & 0xF8
            self.init_state = (3 if self.need_icw4 else 0) if self.single else 2
        elif self.init_state == 2:                # ICW3: the wiring is fixed
            self.init_state = 3 if self.need_icw4 else 0
        else:                                     # ICW4
            self.special_fully_nested = bool(value & 0x10)
            self.auto_eoi = bool(value & 0x02)
            self.init_state = 0

    def _ocw2(self, value: int) -> None:
        command = value >> 5
        if command in (0, 4):                     # clear / set rotate in auto-EOI mode
            self.rotate_on_auto_eoi = command == 4
        elif command in (1, 5):                   # non-specific EOI (5: and rotate)
            level = self._priority(self.isr)
            if level != NO_IRQ:
                irq = (level + self.priority_add) & 7
                self.isr &= ~(1 << irq)
                if command == 5:
                    self.priority_add = (irq + 1) & 7
        elif command in (3, 7):                   # specific EOI (7: and rotate)
            irq = value & 7
            self.isr &= ~(1 << irq)
            if command == 7:
                self.priority_add = (irq + 1) & 7
        elif command == 6:                        # set priority: irq becomes the lowest
            self.priority_add = ((value & 7) + 1) & 7

    def read(self, a0: int) -> int | None:
        """The register value, or None for a poll read (the pair must perform the acknowledge)."""
        if self.poll:
            return None
        if a0 == 0:
            return self.isr if self.read_isr else self.irr
        return self.imr


class PICPair(Device):
    name = "pic8259"
    ports = ((0x20, 0x21), (0xA0, 0xA1))

    def __init__(self):
        self.master, self.slave = PIC8259(True), PIC8259(False)
        self.clock = lambda: 0
        self.raise_irq = self.lower_irq = lambda: None
        self.int_level = False

    def reset(self) -> None:
        self.master.reset()
        self.slave.reset()
        self._update()

    def _update(self) -> None:
        """Propagate the slave's INT to the master's IR2, and the master's INT to the CPU."""
        self.master.set_input(CASCADE_IRQ, self.slave.best_irq() is not None)
        level = self.master.best_irq() is not None
        if level != self.int_level:
            self.int_level = level
            (self.raise_irq if level else self.lower_irq)()

    # -- the device side ---------------------------------------------------------
    def set_irq(self, line: int, level: int | bool) -> None:
        """Drive input `line` (0..15) to `level`; a rising edge requests an interrupt."""
        if not 0 <= line < 16:
            raise ValueError(f"no IRQ line {line}")
        chip = self.master if line < 8 else self.slave
        chip.set_input(line & 7, bool(level))
        self._update()

    # -- the CPU side ------------------------------------------------------------
    def pending_vector(self) -> int | None:
        """The vector INTA would return now, None when no interrupt is signalled."""
        irq = self.master.best_irq()
        if irq is None:
            return None
        if irq == CASCADE_IRQ:
            slave_irq = self.slave.best_irq()
            return self.slave.vector_base + (SPURIOUS_IRQ if slave_irq is None else slave_irq)
        return self.master.vector_base + irq

    def acknowledge(self) -> int:
        """The INTA cycle: the vector to deliver, with IRR -> ISR done (spurious: IRQ 7's vector)."""
        irq = self.master.best_irq()
        if irq is None:
            vector = self.master.vector_base + SPURIOUS_IRQ
        elif irq == CASCADE_IRQ:
            slave_irq = self.slave.best_irq()
            if slave_irq is None:
                vector = self.slave.vector_base + SPURIOUS_IRQ
            else:
                self.slave.intack(slave_irq)
                vector = self.slave.vector_base + slave_irq
            self._update()                        # the slave's INT may have dropped
            self.master.intack(irq)
        else:
            self.master.intack(irq)
            vector = self.master.vector_base + irq
        self._update()
        return vector

    # -- ports -------------------------------------------------------------------
    def _chip(self, port: int) -> PIC8259:
        return self.master if port < 0xA0 else self.slave

    def read(self, port: int, size: int) -> int:
        chip = self._chip(port)
        value = chip.read(port & 1)
        if value is not None:
            return value
        chip.poll = False                         # OCW3 poll: this read is the acknowledge
        irq = chip.best_irq()
        if irq is None:
            return 0
        chip.intack(irq)
        self._update()
        return 0x80 | irq

    def write(self, port: int, size: int, value: int) -> None:
        self._chip(port).write(port & 1, value & 0xFF)
        self._update()
