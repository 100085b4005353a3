"""8254 PIT driven through its ports on a fake virtual clock: periodic deadlines exact over many
periods (the integer formula start + ticks * 10**9 // 1193182, written out here from the
spec), the one-shot mode, access modes, counter latch and read-back (8254 datasheet)."""
import pytest

from dbt.runtime.devices.pit8254 import PIT8254

CH0, CH1, CH2, CTRL = 0x40, 0x41, 0x42, 0x43
HZ = 1193182


def at(start_ns, ticks):
    """When tick number `ticks` after a load at `start_ns` falls (the machine's contract)."""
    return start_ns + ticks * 10**9 // HZ


@pytest.fixture
def pit(plug):
    device = PIT8254()
    device.line = plug(device)
    return device


def program(bus, mode, count, channel=0):
    bus.write(CTRL, 1, channel << 6 | 0x30 | mode << 1)    # lobyte then hibyte, binary
    bus.write(CH0 + channel, 1, count & 0xFF)
    bus.write(CH0 + channel, 1, (count >> 8) & 0xFF)


def run_periods(pit, clock, start, period, n):
    """Step the clock to each deadline in turn; check each is exact and gives one edge."""
    line = pit.line
    for k in range(1, n + 1):
        deadline = pit.next_deadline()
        assert deadline == at(start, k * period)
        clock.now = deadline - 1
        pit.advance(clock.now)
        assert len(line.rises) == k - 1
        clock.now = deadline
        pit.advance(clock.now)
        assert len(line.rises) == k and not line.level      # an edge: raised then lowered


@pytest.mark.parametrize("mode", [2, 3])
def test_periodic_deadlines_exact_over_1000_periods(pit, bus, clock, mode):
    clock.now = 12_345                                       # loaded at an arbitrary time
    program(bus, mode, 1193)                                 # ~1000 Hz: 1193 * 10**9 / 1193182 ns
    run_periods(pit, clock, 12_345, 1193, 1000)
    assert pit.line.rises[-1] == 12_345 + 1193 * 1000 * 10**9 // HZ   # no drift after 1000


def test_count_zero_means_65536(pit, bus, clock):
    program(bus, 3, 0)
    run_periods(pit, clock, 0, 65536, 20)                    # the 18.2 Hz BIOS tick


def test_late_advance_gives_one_edge_and_stays_on_the_grid(pit, bus, clock):
    program(bus, 2, 1000)
    clock.now = at(0, 10_500)                                # 10.5 periods go by unobserved
    pit.advance(clock.now)
    assert len(pit.line.rises) == 1                          # the PIC would latch one request
    assert pit.next_deadline() == at(0, 11_000)


def test_mode0_one_shot(pit, bus, clock):
    clock.now = 1_000
    program(bus, 0, 100)
    assert pit.next_deadline() == at(1_000, 100)
    clock.now = at(1_000, 100) - 1
    pit.advance(clock.now)
    assert pit.line.rises == []
    clock.now = at(1_000, 100)
    pit.advance(clock.now)
    assert pit.line.rises == [clock.now]
    assert pit.next_deadline() is None                       # once only
    clock.now += 10**9
    pit.advance(clock.now)
    assert len(pit.line.rises) == 1
    program(bus, 0, 50)                                      # a new count re-arms it
    assert pit.next_deadline() == at(clock.now, 50)


def test_lobyte_only_and_hibyte_only_access(pit, bus, clock):
    bus.write(CTRL, 1, 0x14)                                 # channel 0, lobyte only, mode 2
    bus.write(CH0, 1, 200)
    assert pit.next_deadline() == at(0, 200)
    bus.write(CTRL, 1, 0x24)                                 # hibyte only
    bus.write(CH0, 1, 0x02)
    assert pit.next_deadline() == at(0, 0x200)


def test_counter_latch_freezes_the_value(pit, bus, clock):
    program(bus, 0, 5000)
    clock.now = at(0, 1234)
    bus.write(CTRL, 1, 0x00)                                 # latch channel 0
    clock.now = at(0, 4000)                                  # counting goes on meanwhile
    low, high = bus.read(CH0, 1), bus.read(CH0, 1)
    assert high << 8 | low == 5000 - 1234
    low, high = bus.read(CH0, 1), bus.read(CH0, 1)           # unlatched: the live count
    assert high << 8 | low == 5000 - 4000


def test_live_counter_decrements_once_per_tick(pit, bus, clock):
    program(bus, 2, 1000)
    for ticks in (0, 1, 999, 1000, 1001, 2500):
        clock.now = at(0, ticks)
        low, high = bus.read(CH0, 1), bus.read(CH0, 1)
        assert high << 8 | low == 1000 - ticks % 1000
        clock.now = at(0, ticks + 1) - 1                     # still the same tick
        low, high = bus.read(CH0, 1), bus.read(CH0, 1)
        assert high << 8 | low == 1000 - ticks % 1000


def test_mode3_counts_down_by_two(pit, bus, clock):
    program(bus, 3, 1000)
    clock.now = at(0, 100)
    bus.write(CTRL, 1, 0x00)
    assert bus.read(CH0, 1) | bus.read(CH0, 1) << 8 == 800


def test_read_back_status(pit, bus, clock):
    bus.write(CTRL, 1, 0x30)                                 # mode 0, lo/hi: OUT low, null count
    bus.write(CTRL, 1, 0xE2)                                 # read back status of channel 0
    assert bus.read(CH0, 1) == 0x40 | 0x30
    bus.write(CH0, 1, 10)
    bus.write(CH0, 1, 0)
    clock.now = at(0, 10)
    bus.write(CTRL, 1, 0xC2)                                 # count and status
    assert bus.read(CH0, 1) == 0x80 | 0x30                   # status first: OUT high at terminal count
    assert bus.read(CH0, 1) | bus.read(CH0, 1) << 8 == 0


def test_control_word_stops_the_counter(pit, bus, clock):
    program(bus, 2, 100)
    bus.write(CTRL, 1, 0x34)
    assert pit.next_deadline() is None                       # until the new count is written
    bus.write(CH0, 1, 50)
    assert pit.next_deadline() is None                       # half a count is not a count
    bus.write(CH0, 1, 0)
    assert pit.next_deadline() == at(0, 50)


def test_channels_1_and_2_count_without_interrupts(pit, bus, clock):
    program(bus, 2, 300, channel=2)
    program(bus, 3, 0x1000, channel=1)
    assert pit.next_deadline() is None
    clock.now = at(0, 100)
    assert bus.read(CH2, 1) | bus.read(CH2, 1) << 8 == 200
    clock.now = at(0, 10**6)
    pit.advance(clock.now)
    assert pit.line.rises == []


def test_bcd_counting(pit, bus, clock):
    bus.write(CTRL, 1, 0x35)                                 # mode 2, lo/hi, BCD
    bus.write(CH0, 1, 0x00)
    bus.write(CH0, 1, 0x10)                                  # BCD 1000
    assert pit.next_deadline() == at(0, 1000)
    clock.now = at(0, 1)
    assert bus.read(CH0, 1) | bus.read(CH0, 1) << 8 == 0x0999
    bus.write(CH0, 1, 0)
    bus.write(CH0, 1, 0)                                     # 0 is 10000 in BCD
    assert pit.next_deadline() == at(clock.now, 10000)
