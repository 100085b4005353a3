"""Linux syscalls: the dispatcher, and the table assembled from the sys_* modules.

Each sys_* module exports SYSCALLS, keyed by syscall name (or number); a
handler gets the process and the six argument registers and returns the
value for rax (a negative errno on failure, as the kernel does) or raises
ProcessExit/ProcessKilled, or -ERESTARTSYS (the kernel's internal code) when a
signal interrupted a wait the process restarts if the handler has SA_RESTART
(else -EINTR). An OSError from the host becomes -errno; a bad
guest pointer (GuestFault) -EFAULT, never a host error. Unknown: -ENOSYS.
"""
import errno

from dbt.runtime.linux import sys_fs, sys_io, sys_mem, sys_proc, sys_signal, sys_time
from dbt.runtime.linux.errors import ERESTARTSYS, ProcessExit, ProcessKilled
from dbt.runtime.linux.sysnames import NUMBERS
from dbt.runtime.memory import GuestFault

MODULES = (sys_io, sys_fs, sys_mem, sys_proc, sys_time, sys_signal)


def build_table(modules=MODULES) -> dict:
    """Syscall number -> handler, merged from each module's SYSCALLS."""
    table = {}
    for module in modules:
        for key, handler in module.SYSCALLS.items():
            table[key if isinstance(key, int) else NUMBERS[key]] = handler
    return table


SYSCALLS = build_table()


def dispatch(proc, number: int, args: tuple[int, ...]) -> int:
    handler = SYSCALLS.get(number)
    if handler is None:
        return -errno.ENOSYS
    try:
        return handler(proc, *args)
    except GuestFault:
        return -errno.EFAULT
    except OSError as e:
        return -(e.errno or errno.EINVAL)
    except OverflowError:          # an argument the host cannot represent
        return -errno.EINVAL


__all__ = ["ERESTARTSYS", "ProcessExit", "ProcessKilled", "SYSCALLS", "build_table", "dispatch"]
