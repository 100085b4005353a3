"""--strace: one line per guest syscall on stderr, in the form qemu-x86_64 -strace uses.

    PID name(args) = result
    PID openat(AT_FDCWD,"/nonexistent",0x0,0) = -1 errno=2 ENOENT (No such file or directory)

Paths are shown as strings, pointers in hex, flags as numbers; failures show
the errno's number, name and text. exit/exit_group print no result.
"""
import errno
import os

from dbt.runtime.linux.sysnames import NAMES
from dbt.runtime.linux.uaccess import read_cstring
from dbt.runtime.memory import GuestFault

# Argument kinds: d signed int, u unsigned, x hex, o octal, f dirfd, s string (path).
SIGNATURES = {
    "read": "dxu", "write": "dxu", "open": "sxo", "close": "d", "stat": "sx", "fstat": "dx",
    "lstat": "sx", "poll": "xud", "lseek": "ddd", "mmap": "xuxxdx", "mprotect": "xux",
    "munmap": "xu", "brk": "x", "ioctl": "dxx", "pread64": "dxud", "pwrite64": "dxud",
    "readv": "dxd", "writev": "dxd", "access": "so", "pipe": "x", "sched_yield": "",
    "mremap": "xuuxx", "msync": "xux", "madvise": "xud", "dup": "d", "dup2": "dd",
    "nanosleep": "xx", "getitimer": "dx", "setitimer": "dxx", "alarm": "u", "pause": "",
    "getpid": "", "sendfile": "ddxu", "exit": "d", "uname": "x",
    "fcntl": "ddx", "fsync": "d", "fdatasync": "d", "truncate": "sd", "ftruncate": "dd",
    "getcwd": "xu", "chdir": "s", "fchdir": "d", "rename": "ss", "mkdir": "so", "rmdir": "s",
    "creat": "so", "link": "ss", "unlink": "s", "symlink": "ss", "readlink": "sxu",
    "chmod": "so", "fchmod": "do", "chown": "sdd", "fchown": "ddd", "lchown": "sdd",
    "umask": "o", "gettimeofday": "xx", "getrlimit": "dx", "getrusage": "dx", "sysinfo": "x",
    "times": "x", "getuid": "", "getgid": "", "geteuid": "", "getegid": "", "getppid": "",
    "getpgrp": "", "setrlimit": "dx", "statfs": "sx", "fstatfs": "dx", "arch_prctl": "xx",
    "gettid": "", "time": "x", "futex": "xddxxd", "sched_getaffinity": "dux",
    "set_tid_address": "x", "getdents64": "dxu", "clock_gettime": "dx", "clock_getres": "dx",
    "clock_nanosleep": "ddxx", "exit_group": "d", "openat": "fsxo", "mkdirat": "fso",
    "mknodat": "fsox", "fchownat": "fsddx", "newfstatat": "fsxx", "unlinkat": "fsx",
    "renameat": "fsfs", "linkat": "fsfsx", "symlinkat": "sfs", "readlinkat": "fsxu",
    "fchmodat": "fso", "faccessat": "fso", "ppoll": "xuxxu", "set_robust_list": "xu",
    "utimensat": "fsxx", "dup3": "ddx", "pipe2": "xx", "prlimit64": "ddxx", "renameat2": "fsfsx",
    "getrandom": "xux", "statx": "fsxxx", "rseq": "xuxx", "faccessat2": "fsox", "mknod": "sox",
    "prctl": "dxxxx", "rt_sigaction": "dxxu", "rt_sigprocmask": "dxxu", "rt_sigreturn": "",
    "kill": "dd", "tgkill": "ddd", "sigaltstack": "xx", "preadv": "dxdd", "pwritev": "dxdd",
    "getpgid": "d", "getsid": "d", "getgroups": "dx", "mlock": "xu", "munlock": "xu",
    "mlockall": "x", "munlockall": "", "sync": "",
}
HEX_RESULTS = {"mmap", "mremap", "brk"}
NO_RESULT = {"exit", "exit_group"}
AT_FDCWD = -100


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _string(mem, ptr: int) -> str:
    if not ptr:
        return "NULL"
    try:
        text = read_cstring(mem, ptr)
    except (GuestFault, OSError):
        return f"{ptr:#x}"
    return '"' + text.decode("latin-1").encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def format_arg(mem, kind: str, value: int) -> str:
    if kind == "d":
        return str(_signed(value, 32))
    if kind == "u":
        return str(value)
    if kind == "o":
        return f"{value & 0xFFFFFFFF:#o}"
    if kind == "f":
        fd = _signed(value, 32)
        return "AT_FDCWD" if fd == AT_FDCWD else str(fd)
    if kind == "s":
        return _string(mem, value)
    return f"{value:#x}"


def format_call(mem, number: int, args) -> str:
    name = NAMES.get(number)
    if name is None:
        return f"syscall_{number}(" + ",".join(f"{a:#x}" for a in args) + ")"
    kinds = SIGNATURES.get(name)
    if kinds is None:
        return f"{name}(" + ",".join(f"{a:#x}" for a in args) + ")"
    return f"{name}(" + ",".join(format_arg(mem, k, a) for k, a in zip(kinds, args)) + ")"


def format_result(number: int, result: int) -> str:
    result = _signed(result, 64)
    if -4096 < result < 0:
        code = -result
        return f"-1 errno={code} {errno.errorcode.get(code, '?')} ({os.strerror(code)})"
    if NAMES.get(number) in HEX_RESULTS:
        return f"{result & ((1 << 64) - 1):#x}"
    return str(result)


def syscall_name(number: int) -> str:
    return NAMES.get(number, f"syscall_{number}")
