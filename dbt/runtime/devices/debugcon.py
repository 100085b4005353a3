"""QEMU's -debugcon at port 0xE9 (the Bochs "port E9 hack"): each byte written goes to the console.

A wider `out` sends its low byte only, as QEMU does. Reads return 0xE9, the
value a guest probes for to learn that the port is there.
"""
from dbt.runtime.devices.bus import Device

PORT = 0xE9


class DebugCon(Device):
    name = "debugcon"
    ports = ((PORT, PORT),)

    def __init__(self, output):
        self.output = output            # callable(bytes): the console, unbuffered

    def read(self, port: int, size: int) -> int:
        return PORT

    def write(self, port: int, size: int, value: int) -> None:
        self.output(bytes((value & 0xFF,)))
