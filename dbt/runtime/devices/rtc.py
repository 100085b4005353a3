"""The CMOS real-time clock (MC146818) at 0x70 (index) / 0x71 (data).

Time of day = the start time given at construction + the machine's virtual
clock, so a deterministic run reads the same date every time. Registers
0x00-0x09 hold seconds, minutes, hours, day of week (Sunday = 1), day of
month, month and year (two digits; 0x32 holds the century), in BCD unless
status B bit 2 asks for binary, 24-hour unless status B bit 1 is clear (then
bit 7 of the hours is PM). A guest write to a time register sets the clock.
Status A bit 7 (update in progress) is set during the last 244 us of each
virtual second, as on the real part. Alarms and the periodic interrupt (IRQ 8)
are not modelled: bytes 0x01/0x03/0x05 and 0x0E-0x7F are plain CMOS RAM.
"""
import datetime

from dbt.runtime.devices.bus import Device

INDEX_PORT, DATA_PORT = 0x70, 0x71
SEC, MIN, HOUR, WDAY, MDAY, MONTH, YEAR = 0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09
REG_A, REG_B, REG_C, REG_D, CENTURY = 0x0A, 0x0B, 0x0C, 0x0D, 0x32
B_SET, B_24H, B_BINARY = 0x80, 0x02, 0x04
A_UIP = 0x80
UIP_NS = 244_000                        # update cycle (244 us) before each second boundary
NS = 1_000_000_000
TIME_REGS = (SEC, MIN, HOUR, WDAY, MDAY, MONTH, YEAR, CENTURY)


def to_bcd(value: int) -> int:
    return ((value // 10) << 4) | (value % 10)


def from_bcd(value: int) -> int:
    return (value >> 4) * 10 + (value & 0x0F)


class RTC(Device):
    name = "rtc"
    ports = ((INDEX_PORT, DATA_PORT),)

    def __init__(self, start: datetime.datetime):
        self.start = start.replace(tzinfo=None)
        self.clock = lambda: 0
        self.raise_irq = self.lower_irq = lambda: None
        self.reset()

    def reset(self) -> None:
        self.index = 0
        self.offset_ns = 0               # guest writes to the time registers move the clock
        self.cmos = bytearray(128)
        self.cmos[REG_A] = 0x26          # 32.768 kHz time base, 1024 Hz rate
        self.cmos[REG_B] = B_24H         # 24-hour, BCD
        self.cmos[REG_D] = 0x80          # valid RAM and time

    # -- the clock -------------------------------------------------------------
    def _elapsed_ns(self) -> int:
        return self.clock() + self.offset_ns

    def now(self) -> datetime.datetime:
        """The date and time the guest reads."""
        return self.start + datetime.timedelta(microseconds=self._elapsed_ns() // 1000)

    def _encode(self, value: int) -> int:
        return value if self.cmos[REG_B] & B_BINARY else to_bcd(value)

    def _decode(self, value: int) -> int:
        return value if self.cmos[REG_B] & B_BINARY else from_bcd(value)

    def _time_reg(self, reg: int, t: datetime.datetime) -> int:
        if reg == SEC:
            return self._encode(t.second)
        if reg == MIN:
            return self._encode(t.minute)
        if reg == HOUR:
            if self.cmos[REG_B] & B_24H:
                return self._encode(t.hour)
            hour12 = (t.hour + 11) % 12 + 1
            return self._encode(hour12) | (0x80 if t.hour >= 12 else 0)
        if reg == WDAY:
            return self._encode((t.weekday() + 1) % 7 + 1)
        if reg == MDAY:
            return self._encode(t.day)
        if reg == MONTH:
            return self._encode(t.month)
        if reg == YEAR:
            return self._encode(t.year % 100)
        return self._encode(t.year // 100)          # CENTURY

    def _set_time_reg(self, reg: int, value: int) -> None:
        """A guest sets the clock: rebuild the date with one field changed (ignored if invalid)."""
        t = self.now()
        if reg == HOUR and not self.cmos[REG_B] & B_24H:
            hour = self._decode(value & 0x7F) % 12 + (12 if value & 0x80 else 0)
            fields = {"hour": hour}
        elif reg == WDAY:
            return                                  # derived from the date
        else:
            v = self._decode(value)
            name = {SEC: "second", MIN: "minute", HOUR: "hour", MDAY: "day", MONTH: "month"}.get(reg)
            if name is not None:
                fields = {name: v}
            elif reg == YEAR:
                fields = {"year": t.year // 100 * 100 + v}
            else:
                fields = {"year": v * 100 + t.year % 100}
        try:
            new = t.replace(**fields)
        except ValueError:
            return
        self.offset_ns += (new - t) // datetime.timedelta(microseconds=1) * 1000

    def _status_a(self) -> int:
        frac = (self.start.microsecond * 1000 + self._elapsed_ns()) % NS
        return (self.cmos[REG_A] & 0x7F) | (A_UIP if frac >= NS - UIP_NS else 0)

    # -- ports -----------------------------------------------------------------
    def read(self, port: int, size: int) -> int:
        if port == INDEX_PORT:
            return 0xFF                              # write-only on the real part (QEMU reads 0xFF)
        reg = self.index
        if reg in TIME_REGS:
            return self._time_reg(reg, self.now())
        if reg == REG_A:
            return self._status_a()
        if reg == REG_C:
            value, self.cmos[REG_C] = self.cmos[REG_C], 0   # reading C acknowledges its flags
            return value
        return self.cmos[reg]

    def write(self, port: int, size: int, value: int) -> None:
        value &= 0xFF
        if port == INDEX_PORT:
            self.index = value & 0x7F                # bit 7 masks NMI: nothing to mask here
            return
        reg = self.index
        if reg in TIME_REGS:
            self._set_time_reg(reg, value)
        elif reg == REG_A:
            self.cmos[REG_A] = value & 0x7F          # UIP is read-only
        elif reg == REG_B:
            self.cmos[REG_B] = value
        elif reg in (REG_C, REG_D):
            pass                                     # read-only
        else:
            self.cmos[reg] = value
