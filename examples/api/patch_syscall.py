"""Patch syscall results: getuid returns 4242 (an after-hook), and a write to
stderr is skipped and reported as done (a before-hook).

    python examples/api/patch_syscall.py PROG [ARGS...]
runs the program with these patches; its own output shows the first.
"""
import errno
import sys

from dbt.api import Emulator
from dbt.runtime.linux.sysnames import NUMBERS


def patch_uid(emu, call):
    if call.number == NUMBERS["getuid"]:
        call.result = 4242


def drop_stderr(emu, call):
    if call.number == NUMBERS["write"] and call.args[0] == 2:
        call.skip(call.args[2])          # "all bytes written"


def main(argv: list[str]) -> int:
    if len(argv) < 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    emu = Emulator.linux(argv[0], argv)
    emu.hook_syscall(patch_uid, after=True)
    emu.hook_syscall(drop_stderr)
    stop = emu.run()
    return stop.status if stop.reason == "exit" else errno.EINVAL


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
