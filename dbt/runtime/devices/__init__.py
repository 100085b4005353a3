"""Devices of the pc machine (MACHINE.md), one file each, against the protocol in bus.py."""
