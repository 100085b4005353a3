"""Host syscalls that Python's os module does not offer (statx, getdents64, faccessat2, ...).

Called through libc's syscall(2) with dbt-owned buffers only: guest pointers
never reach the host kernel. A failure raises OSError with the host errno,
which is the errno the guest gets (host and guest are both x86-64 Linux).
"""
import ctypes
import os

from dbt.runtime.linux.sysnames import NUMBERS

_LIBC = ctypes.CDLL(None, use_errno=True)
_SYSCALL = _LIBC.syscall
_SYSCALL.restype = ctypes.c_long


def _arg(value):
    if isinstance(value, bytes):                 # a path: NUL-terminated
        return ctypes.c_char_p(value)
    if isinstance(value, bytearray):             # a buffer the host reads or fills
        return (ctypes.c_char * max(len(value), 1)).from_buffer(value) if value else None
    return ctypes.c_long(value if value < (1 << 63) else value - (1 << 64))


def host_syscall(name: str, *args) -> int:
    """syscall(name, args...): bytes are paths, bytearrays buffers, ints words."""
    result = _SYSCALL(ctypes.c_long(NUMBERS[name]), *(_arg(a) for a in args))
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result
