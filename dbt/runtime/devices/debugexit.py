"""QEMU's isa-debug-exit at port 0xF4: a guest write of v ends the run with host status (v << 1) | 1.

The device only reports the status through `on_exit`; ending the run is the
machine's business. Reads return 0, as QEMU's device does.
"""
from dbt.runtime.devices.bus import Device

PORT = 0xF4


def exit_status(value: int) -> int:
    """The host exit status of a write of `value` (before the host truncates it to 8 bits)."""
    return (value << 1) | 1


class DebugExit(Device):
    name = "debug-exit"
    ports = ((PORT, PORT),)

    def __init__(self, on_exit):
        self.on_exit = on_exit          # callable(status: int)

    def read(self, port: int, size: int) -> int:
        return 0

    def write(self, port: int, size: int, value: int) -> None:
        self.on_exit(exit_status(value))
