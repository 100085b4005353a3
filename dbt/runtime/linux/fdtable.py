"""The guest's file descriptor table: guest fd -> an open host fd.

The guest reaches only host fds it opened itself, plus those dbt was started
with (stdin/stdout/stderr and any fd the parent passed on), as private
duplicates under the same numbers, so closing them never closes dbt's own. Close-on-exec is the guest's flag, kept here; every host fd is opened
close-on-exec. New descriptors take the lowest free number below the guest's
RLIMIT_NOFILE, as the kernel does (EMFILE past it).
"""
import errno
import fcntl
import os
from dataclasses import dataclass


@dataclass
class OpenFile:
    host: int                    # the host fd (owned by this entry)
    cloexec: bool = False
    path: bytes | None = None    # guest path it was opened by (dirfd resolution, /proc/self/fd)


def _ebadf() -> OSError:
    return OSError(errno.EBADF, "bad file descriptor")


class FdTable:
    def __init__(self, limit: int = 1024):
        self.files: dict[int, OpenFile] = {}
        self.limit = limit           # the guest's RLIMIT_NOFILE soft limit

    @classmethod
    def inherited(cls, limit: int = 1024) -> "FdTable":
        """The fds dbt was started with: 0/1/2 and any other that survived the exec into dbt
        (the ones without close-on-exec; every fd Python opens has it), under the same numbers."""
        table = cls(limit)
        try:
            numbers = sorted(int(name) for name in os.listdir("/proc/self/fd"))
        except OSError:
            numbers = [0, 1, 2]
        for fd in numbers:
            try:
                if fd > 2 and fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC:
                    continue
                table.files[fd] = OpenFile(os.dup(fd))      # os.dup: close-on-exec on the host
            except OSError:
                pass                 # closed (or the listing's own fd): the guest has none there
        return table

    def get(self, fd: int) -> OpenFile:
        entry = self.files.get(fd)
        if entry is None:
            raise _ebadf()
        return entry

    def host(self, fd: int) -> int:
        return self.get(fd).host

    def lowest_free(self, start: int = 0) -> int:
        fd = start
        while fd in self.files:
            fd += 1
        if fd >= self.limit:
            raise OSError(errno.EMFILE, "too many open files")
        return fd

    def install(self, host: int, cloexec: bool = False, path: bytes | None = None, start: int = 0) -> int:
        """Give a freshly opened host fd the lowest free guest number >= start (closes it on EMFILE)."""
        try:
            fd = self.lowest_free(start)
        except OSError:
            os.close(host)
            raise
        self.files[fd] = OpenFile(host, cloexec, path)
        return fd

    def place(self, fd: int, host: int, cloexec: bool, path: bytes | None) -> None:
        """Put a host fd at a given guest number (dup2), closing what was there."""
        old = self.files.get(fd)
        self.files[fd] = OpenFile(host, cloexec, path)
        if old is not None:
            os.close(old.host)

    def close(self, fd: int) -> None:
        entry = self.files.pop(fd, None)
        if entry is None:
            raise _ebadf()
        os.close(entry.host)

    def close_all(self) -> None:
        for entry in self.files.values():
            try:
                os.close(entry.host)
            except OSError:
                pass
        self.files.clear()
