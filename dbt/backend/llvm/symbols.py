"""What lowering (lower.py, region.py) and loading (native.py) agree on: the names of a
translated function's symbols and the size of the native jump cache.

Kept apart from lower.py so that a run the code cache serves, which loads code and
lowers none, does not import the lowering modules (~5 ms a start).
"""
JMP_CACHE_BITS = 12
JMP_CACHE_ENTRIES = 1 << JMP_CACHE_BITS      # entries of {i64 pc, ptr fn}


def block_symbol(pc: int, key: bytes, prefix: str = "tb", group: bytes = b"") -> str:
    """The function name of a block's (or with prefix "rg", a region's) code: unique to its
    code-cache key and the group it was compiled in, the same in every run."""
    return f"{prefix}_{pc:x}_{key.hex()}" + (f"_{group.hex()}" if group else "")


def hits_name(function: str) -> str:
    """The global counting a counted block function's entries (regions on)."""
    return f"{function}_hits"


def target_name(function: str) -> str:
    """The global where a counted block ending in an indirect jump (regions.indirect) records
    the target it last jumped to: a region takes that target in (regions.with_recorded_target)."""
    return f"{function}_last"


def refs_name(function: str) -> str:
    """The constant table of a function's address, its exit slots', (counted) its counter's and
    (counted, regions.indirect) its recorded target's: the one symbol of a block's object code
    (the rest is private), so one lookup in the linker gives them all."""
    return f"{function}_refs"
