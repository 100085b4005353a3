"""QEMU's isa-debug-exit (0xF4) and debugcon (0xE9) as a guest drives them."""
from dbt.runtime.devices.debugcon import DebugCon
from dbt.runtime.devices.debugexit import DebugExit


def test_debug_exit_status_formula(plug, bus):
    statuses = []
    plug(DebugExit(statuses.append))
    bus.write(0xF4, 1, 0x00)
    bus.write(0xF4, 1, 0x31)
    bus.write(0xF4, 4, 0x10)
    assert statuses == [1, 0x63, 0x21]                      # (v << 1) | 1, as QEMU's device
    assert bus.read(0xF4, 1) == 0


def test_debugcon_bytes_and_readback(plug, bus):
    out = []
    plug(DebugCon(out.append))
    for byte in b"dbg\n":
        bus.write(0xE9, 1, byte)
    bus.write(0xE9, 2, 0x4142)                              # a wide out sends its low byte
    assert out == [b"d", b"b", b"g", b"\n", b"B"]
    assert bus.read(0xE9, 1) == 0xE9                        # the presence probe
