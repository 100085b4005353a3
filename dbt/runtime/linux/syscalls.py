"""Linux syscalls: one small function each, in a table keyed by syscall number.

A syscall gets the process and its six arguments and returns the value for
rax (a negative errno on failure, as the kernel does) or raises ProcessExit.
A bad guest pointer is -EFAULT, never a host error. Unknown numbers: -ENOSYS.
"""
import errno
import os

from dbt.runtime.memory import GuestFault


class ProcessExit(Exception):
    def __init__(self, status: int):
        self.status = status


def sys_write(proc, fd, buf, count, *_):
    data = proc.mem.read(buf, count) if count else b""
    try:
        return os.write(proc.host_fd(fd), data)
    except OSError as e:
        return -e.errno


def sys_exit(proc, status, *_):
    raise ProcessExit(status & 0xFF)


SYSCALLS = {
    1: sys_write,
    60: sys_exit,
    231: sys_exit,          # exit_group: one thread, so the same as exit
}


def dispatch(proc, number: int, args: tuple[int, ...]) -> int:
    handler = SYSCALLS.get(number)
    if handler is None:
        return -errno.ENOSYS
    try:
        return handler(proc, *args)
    except GuestFault:
        return -errno.EFAULT
