"""Count the syscalls a static Linux program makes, by name, with a syscall hook.

    python examples/api/count_syscalls.py PROG [ARGS...]
prints one `NAME COUNT` line per syscall (sorted by name), then `exit STATUS`.
"""
import sys
from collections import Counter

from dbt.api import Emulator
from dbt.runtime.linux.strace import syscall_name


def main(argv: list[str]) -> int:
    if len(argv) < 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    emu = Emulator.linux(argv[0], argv)
    counts: Counter = Counter()
    emu.hook_syscall(lambda emu, call: counts.update([syscall_name(call.number)]))
    stop = emu.run()
    sys.stdout.flush()
    for name, count in sorted(counts.items()):
        print(name, count)
    print("exit", stop.status)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
