"""Watch the stores to one global variable of a static program with a memory hook
(only accesses to its page leave translated code).

    python examples/api/hook_memory.py PROG VARIABLE [ARGS...]
prints `stores N` and `last VALUE` (signed, as the program would print it).
"""
import sys

from trace_function import load_with_symbol


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    emu, addr, size = load_with_symbol(argv)
    stores: list[int] = []
    emu.hook_mem(lambda emu, kind, at, width, value: stores.append(value), addr, addr + size, "w")
    emu.run()
    sys.stdout.flush()
    last = stores[-1] if stores else 0
    print("stores", len(stores))
    print("last", last - (1 << 64) if last >> 63 else last)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
