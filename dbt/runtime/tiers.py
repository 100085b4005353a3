"""Tier 0: how many times a new block runs in the IR interpreter before LLVM compiles it.

Most blocks of a program run a handful of times (start-up code: dynamic
loader, libc initialisation), and compiling one costs far more than
interpreting it a few times. With `jit_after` N > 1 the block cache
(dbt/runtime/tb.py) only lifts a new block; the executor interprets it and,
on its N-th run, it is compiled and installed like any block (linked, the
slots waiting for it patched, the jump cache set). N = 1 compiles at once.
Without a code cache, the tier-0 blocks that have run N // 2 times are
compiled in the same LLVM module (TBCache.compile_batch): LLVM's cost per
module is about half of a small block's.
`dbt run` takes N from --jit-after, else $DBT_JIT_AFTER, else DEFAULT_JIT_AFTER;
the Python API compiles at once unless asked (the oracle tests test native code).

Interpreting a block costs ~0.08 ms a run, compiling it ~1.5-3 ms: N near their
ratio. Measured cold runs (`dbt run --no-cache --jit-after N`, CPU seconds, best of 2-3):
    N                     1     2     4     8    16    32    64
    hello (musl)        .61   .37   .37   .35   .36   .36   .34
    hello (glibc)      1.88   .79   .72   .65   .64   .62   .63
    sieve 30000000     2.68  1.34  1.27  1.24  1.17  1.15  1.18
    qsort 30000        4.18  2.85  2.61  2.50  2.48  2.38  2.49
    sha256 300 (musl)  2.93  2.45  2.38  2.33  2.42  2.61  2.62
    strings 3000       9.42  8.05  7.45  7.41  7.48  7.59  7.54
"""
import os

DEFAULT_JIT_AFTER = 16      # measured: the curve above


def jit_after(choice: int | None = None) -> int:
    """The N asked for, else $DBT_JIT_AFTER, else DEFAULT_JIT_AFTER; ValueError for one that is not >= 1."""
    if choice is not None:
        return choice
    text = os.environ.get("DBT_JIT_AFTER")
    if not text:
        return DEFAULT_JIT_AFTER
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"DBT_JIT_AFTER must be a whole number >= 1, not {text!r}")
    return value
