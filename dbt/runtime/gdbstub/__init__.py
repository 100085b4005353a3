"""The gdb remote stub (`dbt run -g PORT`): gdb debugs the guest over TCP on localhost.

packets.py frames the GDB remote serial protocol, registers.py describes the
x86-64 registers to gdb, target.py holds breakpoints, watchpoints and run
control, session.py answers gdb's packets. `wait_for_gdb` blocks until gdb
connects and leaves the emulator's executor driven by the session.
"""
import sys

from dbt.runtime.gdbstub.packets import Connection, listen
from dbt.runtime.gdbstub.session import GdbSession


def wait_for_gdb(emu, port: int, user_mode: bool, log=sys.stderr) -> GdbSession:
    """Listen on localhost:port (0: a free port, named on `log`), accept gdb, attach it.
    OSError when the port cannot be used."""
    server = listen(port, log)
    try:
        sock, _ = server.accept()
    finally:
        server.close()
    return GdbSession(Connection(sock), emu, user_mode)


def attach_gdb(emu, port: int, user_mode: bool) -> str | None:
    """-g PORT for the CLI: wait for gdb; the one-line error if the port cannot be used."""
    try:
        wait_for_gdb(emu, port, user_mode)
    except (OSError, OverflowError) as e:
        return f"-g {port}: {getattr(e, 'strerror', None) or e}"
    return None
