"""The device bus of the pc machine: the one protocol every device implements.

Devices know nothing of engines: translated code reaches them only through
IO exits, which the machine turns into `Bus.read`/`Bus.write`. Time is the
machine's virtual clock (ns); a device that has timed events says when the
next one is due (`next_deadline`) and is told when time gets there
(`advance`). Interrupt lines are functions the machine hands to a device at
attach time (wired to the PIC).
"""


class Device:
    """Base class: override what the device has. Ports are a tuple of (first, last) inclusive."""
    name = "device"
    ports: tuple[tuple[int, int], ...] = ()

    def attach(self, clock, raise_irq, lower_irq) -> None:
        """Called once by the machine: `clock()` is virtual time in ns; irq functions take no args."""
        self.clock, self.raise_irq, self.lower_irq = clock, raise_irq, lower_irq

    def read(self, port: int, size: int) -> int:
        return (1 << (8 * size)) - 1

    def write(self, port: int, size: int, value: int) -> None:
        pass

    def reset(self) -> None:
        pass

    def next_deadline(self) -> int | None:
        """Virtual time (ns) of this device's next timed event, or None."""
        return None

    def advance(self, now: int) -> None:
        """Virtual time reached `now`: fire the events that are due."""

    def close(self) -> None:
        """The run is ending (any way it ends): flush what must persist."""


class Bus:
    """Port I/O dispatch. An unassigned port reads all ones and ignores writes (as a PC does)."""

    def __init__(self, on_unassigned=None):
        self.devices: list[Device] = []
        self.by_port: dict[int, Device] = {}
        self.on_unassigned = on_unassigned     # callable(kind, port, size, value) for -d unimp

    def attach(self, device: Device) -> Device:
        for first, last in device.ports:
            for port in range(first, last + 1):
                if port in self.by_port:
                    raise ValueError(f"port {port:#x} claimed by {self.by_port[port].name} and {device.name}")
                self.by_port[port] = device
        self.devices.append(device)
        return device

    def read(self, port: int, size: int) -> int:
        device = self.by_port.get(port)
        if device is None:
            if self.on_unassigned:
                self.on_unassigned("read", port, size, None)
            return (1 << (8 * size)) - 1
        return device.read(port, size) & ((1 << (8 * size)) - 1)

    def write(self, port: int, size: int, value: int) -> None:
        device = self.by_port.get(port)
        if device is None:
            if self.on_unassigned:
                self.on_unassigned("write", port, size, value)
            return
        device.write(port, size, value & ((1 << (8 * size)) - 1))

    def next_deadline(self) -> int | None:
        deadlines = [d for d in (dev.next_deadline() for dev in self.devices) if d is not None]
        return min(deadlines, default=None)

    def advance(self, now: int) -> None:
        for device in self.devices:
            device.advance(now)

    def reset(self) -> None:
        for device in self.devices:
            device.reset()

    def close(self) -> None:
        for device in self.devices:
            device.close()
