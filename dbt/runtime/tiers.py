"""Tier 0: how many times a new block runs in the IR interpreter before LLVM compiles it.

Most blocks of a program run a handful of times (start-up code: dynamic
loader, libc initialisation), and compiling one costs far more than
interpreting it a few times. With `jit_after` N > 1 the block cache
(dbt/runtime/tb.py) only lifts a new block; the executor interprets it and,
on its N-th run, it is compiled and installed like any block (linked, the
slots waiting for it patched, the jump cache set). N = 1 compiles at once.
`dbt run` takes N from --jit-after, else $DBT_JIT_AFTER, else DEFAULT_JIT_AFTER;
the Python API compiles at once unless asked (the oracle tests test native code).
"""
import os

DEFAULT_JIT_AFTER = 8       # measured: see README (Usage, --jit-after)


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
