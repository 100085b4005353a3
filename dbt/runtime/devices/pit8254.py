"""The 8254 PIT at 0x40-0x43: three counters on a 1,193,182 Hz clock; channel 0 drives IRQ 0.

Time is exact integer arithmetic on the machine's virtual clock: tick T after
a count is loaded at `start` falls at start + T * 10**9 // 1193182 ns (and a
counter read at time t sees the largest T whose instant is <= t), so a
periodic timer never drifts: deadline k is computed from the load time and k,
never by adding rounded periods. Channel 0 interrupts (an edge: raise then
lower IRQ 0) at tick `count` once in the one-shot modes 0/1/4/5, and at every
multiple of `count` in modes 2 and 3. Several periods that expire within one
`advance` give one edge: the PIC latches a single request either way.
As in QEMU, the gates are always high (modes 1 and 5 start at the count
write), and a new count takes effect at once. A control word stops the
counter until its new count is written. A count of 0 means 65536 (10000 in
BCD mode).
"""
from dbt.runtime.devices.bus import Device

BASE = 0x40
CONTROL = 0x43
PIT_HZ = 1_193_182
NS = 1_000_000_000
ACCESS_LATCH, ACCESS_LO, ACCESS_HI, ACCESS_WORD = 0, 1, 2, 3
WORD_HI = 4              # read/write state: the next byte of a 16-bit access is the high one
ONE_SHOT_MODES = (0, 1, 4, 5)


def tick_ns(ticks: int) -> int:
    """Virtual ns from a count load to its tick number `ticks`."""
    return ticks * NS // PIT_HZ


def ticks_in(elapsed_ns: int) -> int:
    """Ticks completed `elapsed_ns` after a load: the largest T with tick_ns(T) <= elapsed_ns."""
    if elapsed_ns < 0:
        return 0
    return ((elapsed_ns + 1) * PIT_HZ - 1) // NS


def _bcd(value: int) -> int:
    return int(f"{value % 10000:d}", 16)


def _from_bcd(value: int) -> int:
    return sum(((value >> (4 * i)) & 0xF) * 10 ** i for i in range(4))


class Channel:
    """One counter. `on_edge` (channel 0 only) is called once per output edge due."""

    def __init__(self, clock, on_edge=None):
        self.clock, self.on_edge = clock, on_edge
        self.reset()

    def reset(self) -> None:
        self.mode, self.bcd = 0, 0
        self.access = ACCESS_WORD
        self.read_state = self.write_state = ACCESS_WORD
        self.write_low = 0
        self.reload = 0               # the 16-bit value written
        self.count = 0x10000          # the period in ticks it means
        self.start = 0                # virtual ns of the load
        self.armed = False            # counting since `start`
        self.fired = 0                # periods already signalled
        self.latched = None           # (value, read state) of a counter latch
        self.status = None            # a latched status byte

    # -- state -----------------------------------------------------------------
    @property
    def kind(self) -> int:
        """The mode as it behaves: 6 and 7 are 2 and 3."""
        return self.mode - 4 if self.mode >= 6 else self.mode

    def _elapsed_ticks(self) -> int:
        return ticks_in(self.clock() - self.start)

    def counter(self) -> int:
        """The value the counting element holds now (16 bits, BCD-coded in BCD mode)."""
        if not self.armed:
            value = self.reload
        else:
            d, n = self._elapsed_ticks(), self.count
            if self.kind == 2:
                value = n - d % n
            elif self.kind == 3:
                value = n - (2 * d) % n
            else:
                value = (n - d) % (10000 if self.bcd else 0x10000)
        return _bcd(value) if self.bcd else value & 0xFFFF

    def out(self) -> int:
        """The OUT pin."""
        if not self.armed:
            return 0 if self.kind == 0 else 1
        d, n = self._elapsed_ticks(), self.count
        if self.kind in (0, 1):
            return int(d >= n)
        if self.kind == 2:
            return int(d % n != n - 1)
        if self.kind == 3:
            return int(d % n < (n + 1) // 2)
        return int(d != n)                        # modes 4, 5: one low tick at terminal count

    def _status_byte(self) -> int:
        null_count = 0 if self.armed else 1
        return self.out() << 7 | null_count << 6 | self.access << 4 | self.mode << 1 | self.bcd

    # -- timing ----------------------------------------------------------------
    def next_deadline(self) -> int | None:
        if not self.armed or self.on_edge is None:
            return None
        if self.kind in ONE_SHOT_MODES:
            return None if self.fired else self.start + tick_ns(self.count)
        return self.start + tick_ns((self.fired + 1) * self.count)

    def advance(self, now: int) -> None:
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return
        if self.kind in ONE_SHOT_MODES:
            self.fired = 1
        else:
            self.fired = ticks_in(now - self.start) // self.count
        self.on_edge()

    # -- programming -----------------------------------------------------------
    def control(self, value: int) -> None:
        access = (value >> 4) & 3
        if access == ACCESS_LATCH:
            self.latch_count()
            return
        self.access = self.read_state = self.write_state = access
        self.mode, self.bcd = (value >> 1) & 7, value & 1
        self.armed = False

    def latch_count(self) -> None:
        if self.latched is None:
            self.latched = (self.counter(), self.access)

    def latch_status(self) -> None:
        if self.status is None:
            self.status = self._status_byte()

    def _load(self, reload: int) -> None:
        self.reload = reload
        if self.bcd:
            self.count = _from_bcd(reload) or 10000
        else:
            self.count = reload or 0x10000
        self.start, self.fired, self.armed = self.clock(), 0, True

    def write(self, value: int) -> None:
        if self.write_state == ACCESS_LO:
            self._load(value)
        elif self.write_state == ACCESS_HI:
            self._load(value << 8)
        elif self.write_state == ACCESS_WORD:
            self.write_low, self.write_state = value, WORD_HI
        else:
            self._load(self.write_low | value << 8)
            self.write_state = ACCESS_WORD

    def read(self) -> int:
        if self.status is not None:
            value, self.status = self.status, None
            return value
        if self.latched is not None:
            count, state = self.latched
            if state == ACCESS_HI:
                self.latched = None
                return count >> 8
            self.latched = (count, ACCESS_HI) if state == ACCESS_WORD else None
            return count & 0xFF
        count = self.counter()
        if self.read_state == ACCESS_LO:
            return count & 0xFF
        if self.read_state == ACCESS_HI:
            return count >> 8
        if self.read_state == ACCESS_WORD:
            self.read_state = WORD_HI
            return count & 0xFF
        self.read_state = ACCESS_WORD
        return count >> 8


class PIT8254(Device):
    name = "pit8254"
    ports = ((BASE, CONTROL),)

    def __init__(self):
        self.clock = lambda: 0
        self.raise_irq = self.lower_irq = lambda: None
        now = lambda: self.clock()                 # noqa: E731  (attach replaces self.clock)
        self.channels = [Channel(now, self._irq_edge), Channel(now), Channel(now)]

    def _irq_edge(self) -> None:
        self.raise_irq()
        self.lower_irq()

    def reset(self) -> None:
        for channel in self.channels:
            channel.reset()

    def read(self, port: int, size: int) -> int:
        if port == CONTROL:
            return 0xFF                            # the control word register is write-only
        return self.channels[port - BASE].read()

    def write(self, port: int, size: int, value: int) -> None:
        value &= 0xFF
        if port != CONTROL:
            self.channels[port - BASE].write(value)
            return
        select = value >> 6
        if select < 3:
            self.channels[select].control(value)
            return
        for i, channel in enumerate(self.channels):       # read-back command
            if value & (2 << i):
                if not value & 0x20:
                    channel.latch_count()
                if not value & 0x10:
                    channel.latch_status()

    def next_deadline(self) -> int | None:
        return self.channels[0].next_deadline()

    def advance(self, now: int) -> None:
        self.channels[0].advance(now)
