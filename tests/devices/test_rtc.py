"""CMOS RTC through ports 0x70/0x71 on a fake virtual clock: BCD time of day from a known start
time (MC146818 register map), status registers, binary and 12-hour modes, setting the clock."""
import datetime

import pytest

from dbt.runtime.devices.rtc import RTC

INDEX, DATA = 0x70, 0x71
START = datetime.datetime(2024, 2, 29, 23, 59, 58, 500_000)     # a Thursday, leap day


@pytest.fixture
def rtc(plug):
    device = RTC(START)
    plug(device)
    return device


def cmos(bus, reg):
    bus.write(INDEX, 1, reg)
    return bus.read(DATA, 1)


def time_regs(bus):
    return [cmos(bus, reg) for reg in (0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32)]


def test_bcd_time_at_start(rtc, bus):
    #            sec   min   hour  wday  mday  month year  century
    assert time_regs(bus) == [0x58, 0x59, 0x23, 0x05, 0x29, 0x02, 0x24, 0x20]


def test_virtual_time_rolls_the_date(rtc, bus, clock):
    clock.now = 1_499_999_999                                  # 23:59:59.999999999
    assert cmos(bus, 0x00) == 0x59
    clock.now = 1_500_000_000                                  # midnight: leap day to March
    assert time_regs(bus) == [0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x24, 0x20]


def test_status_registers(rtc, bus):
    assert cmos(bus, 0x0A) == 0x26                             # 32.768 kHz, 1024 Hz, no update
    assert cmos(bus, 0x0B) == 0x02                             # 24-hour, BCD
    assert cmos(bus, 0x0C) == 0x00
    assert cmos(bus, 0x0D) == 0x80                             # valid RAM and time


def test_update_in_progress_before_each_second(rtc, bus, clock):
    clock.now = 500_000_000 - 244_000 - 1                      # start is at .5 s: next second at +0.5 s
    assert cmos(bus, 0x0A) & 0x80 == 0
    clock.now = 500_000_000 - 244_000
    assert cmos(bus, 0x0A) & 0x80
    clock.now = 500_000_000
    assert cmos(bus, 0x0A) & 0x80 == 0


def test_binary_and_12_hour_modes(rtc, bus):
    bus.write(INDEX, 1, 0x0B)
    bus.write(DATA, 1, 0x06)                                   # binary, 24-hour
    assert time_regs(bus) == [58, 59, 23, 5, 29, 2, 24, 20]
    bus.write(INDEX, 1, 0x0B)
    bus.write(DATA, 1, 0x00)                                   # BCD, 12-hour
    assert cmos(bus, 0x04) == 0x80 | 0x11                      # 11 PM


def test_guest_sets_the_clock(rtc, bus, clock):
    bus.write(INDEX, 1, 0x04)
    bus.write(DATA, 1, 0x07)                                   # 07 h
    bus.write(INDEX, 1, 0x09)
    bus.write(DATA, 1, 0x25)                                   # 2025: no 29 February, ignored
    assert time_regs(bus)[:3] == [0x58, 0x59, 0x07]
    assert cmos(bus, 0x09) == 0x24
    clock.now = 2 * 10**9
    assert time_regs(bus)[:3] == [0x00, 0x00, 0x08]            # and it keeps running


def test_nmi_bit_and_cmos_ram(rtc, bus):
    bus.write(INDEX, 1, 0x80 | 0x40)                           # bit 7: NMI disable, index 0x40
    bus.write(DATA, 1, 0xA5)
    assert cmos(bus, 0x40) == 0xA5
    assert cmos(bus, 0x80 | 0x00) == 0x58                      # same register with NMI masked
