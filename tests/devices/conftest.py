"""Shared fixtures for the device tests: a fake virtual clock, IRQ lines that record their
edges, and `plug`, which wires a device to a Bus the way the pc machine does."""
import pytest

from dbt.runtime.devices.bus import Bus


class FakeClock:
    """Virtual time in ns, moved by hand."""

    def __init__(self):
        self.now = 0

    def __call__(self) -> int:
        return self.now


class Line:
    """An IRQ line: its level, and the virtual time of every rising edge."""

    def __init__(self, clock):
        self.clock, self.level, self.rises, self.falls = clock, False, [], 0

    def raise_(self):
        if not self.level:
            self.rises.append(self.clock())
        self.level = True

    def lower(self):
        if self.level:
            self.falls += 1
        self.level = False


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def bus():
    return Bus()


@pytest.fixture
def plug(bus, clock):
    """plug(device) -> its IRQ Line, after attaching it to the bus and the clock."""
    def attach(device):
        line = Line(clock)
        device.attach(clock, line.raise_, line.lower)
        bus.attach(device)
        return line
    return attach
