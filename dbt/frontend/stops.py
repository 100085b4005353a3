"""Stop points: where translated code leaves for the runtime before running an instruction.

A block ends before a stop address (`addr in stops`), and a block that starts
where `stops.enters(pc)` holds is replaced by a stop block (Translator.stop_block)
that exits STOP at once; the runtime then decides what the stop means: the end
of a run (`until`: run(until=...), gdb breakpoints) or hooks to call before the
real block runs (dbt/runtime/hooks.py). Nothing here costs anything where no
stop point is set.
"""
from collections import Counter


class StopPoints:
    def __init__(self):
        self.until: Counter = Counter()          # addresses a run ends at, counted per user
        self.hooked: frozenset[int] = frozenset()            # exact addresses with block hooks
        self.every: tuple[tuple[int, int], ...] = ()         # [begin, end): each instruction stops
        self.starts: tuple[tuple[int, int], ...] = ()        # [begin, end): each block start stops
        self.all_blocks = False                              # every block start stops

    def add_until(self, addr: int) -> None:
        self.until[addr] += 1

    def discard_until(self, addr: int) -> bool:
        """Forget one user of `addr`; True when it is no longer an until address."""
        if self.until[addr] > 1:
            self.until[addr] -= 1
            return False
        self.until.pop(addr, None)
        return True

    def snapshot(self) -> tuple:
        """All the stop points, hashable: equal snapshots mean blocks end at the same places."""
        return frozenset(self.until), self.hooked, self.every, self.starts, self.all_blocks

    def __contains__(self, addr: int) -> bool:
        """A block must end before addr (addr must start a block)."""
        return addr in self.until or addr in self.hooked or any(b <= addr < e for b, e in self.every)

    def within(self, begin: int, end: int) -> bool:
        """Whether some address of [begin, end) is a stop point (`addr in self` for one of them):
        a block covering that range would have to end earlier."""
        return (any(begin <= addr < end for addr in self.until) or any(begin <= addr < end for addr in self.hooked)
                or any(b < end and begin < e for b, e in self.every))

    def enters(self, pc: int) -> bool:
        """A block starting at pc exits STOP before running anything."""
        return self.all_blocks or pc in self or any(b <= pc < e for b, e in self.starts)
