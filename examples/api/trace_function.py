"""Trace the blocks of one function of a static program: a block hook on the
function's address range, found in the ELF symbol table.

    python examples/api/trace_function.py PROG FUNCTION [ARGS...]
prints `FUNCTION at ADDR size SIZE`, then `entries N` (runs of the block at its
entry: its calls) and `blocks B` (distinct blocks run inside it).
"""
import sys
from collections import Counter

from elftools.elf.elffile import ELFFile

from dbt.api import Emulator


def load_with_symbol(argv: list[str]) -> tuple[Emulator, int, int]:
    """argv = PROG SYMBOL [ARGS...]: the program ready to run PROG ARGS, and SYMBOL's address and size."""
    prog, name, args = argv[0], argv[1], argv[2:]
    with open(prog, "rb") as f:
        symbol = ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name(name)[0]
    return Emulator.linux(prog, [prog, *args]), symbol["st_value"], symbol["st_size"]


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    emu, start, size = load_with_symbol(argv)
    function = argv[1]
    runs: Counter = Counter()
    emu.hook_block(lambda emu, pc, block_size: runs.update([pc]), start, start + size)
    emu.run()
    sys.stdout.flush()
    print(f"{function} at {start:#x} size {size}")
    print("entries", runs[start])
    print("blocks", len(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
