"""Hot regions: when regions are on, which blocks a hot block's region holds.

First-tier blocks count their entries (in native code) and exit HOT at a
threshold; the block cache then compiles the hot block and the translated
blocks reachable from it by direct exits (a loop, a function and its callees'
blocks) into one region function (dbt/backend/llvm/region.py) that becomes the
entry for the head pc. Modes: off (no counters), on, always (a low threshold,
so tests exercise regions everywhere); `DBT_REGIONS` chooses when the caller
does not. `on` and `always` compile at the HOT exit; `background` compiles on
a thread (dbt/runtime/worker.py) while the guest keeps running its first-tier code
(`dbt run`'s default without a code cache: on the benchmark set, cold runs
take 0-17% less wall time than with `on`, and no more). Which blocks a region
holds then depends on timing, so a later run would often not find it in the
code cache: with a code cache, `dbt run` compiles at once (`on`) by default.
"""
import os

MODES = ("off", "on", "background", "always")
THRESHOLDS = {"off": None, "on": 1000, "background": 1000, "always": 2}
BACKGROUND = frozenset({"background"})    # modes that compile regions on a background thread
MAX_REGION_BLOCKS = 16
MAX_REGION_INSNS = 160


def command_line_mode(mode: str | None, code_cache: bool) -> str:
    """`dbt run`'s mode: the one asked for, else $DBT_REGIONS, else background without a code
    cache and on with one (see above)."""
    return region_mode(mode, default="on" if code_cache else "background")


def region_mode(mode: str | None = None, default: str = "on") -> str:
    """The mode asked for, else $DBT_REGIONS, else `default`; ValueError names the choices."""
    chosen = mode or os.environ.get("DBT_REGIONS") or default
    if chosen not in MODES:
        raise ValueError(f"unknown regions mode {chosen!r} (choose from {', '.join(MODES)})")
    return chosen


def hot_threshold(mode: str | None = None) -> int | None:
    """Entries after which a first-tier block is hot, or None when regions are off."""
    return THRESHOLDS[region_mode(mode)]


def direct_targets(block) -> list[int]:
    """Guest pcs a block's IR may chain to directly (exit_if, goto, branch)."""
    targets = []
    for op in block.ops:
        if op.opcode in ("exit_if", "goto"):
            targets.append(op.attrs["target"])
        elif op.opcode == "branch":
            targets += [op.attrs["taken"], op.attrs["fallthrough"]]
    return targets


def select_region(head, blocks: dict, excluded, warm, ir) -> list:
    """The head's TB then the warm translated TBs reachable from it by direct exits, breadth
    first, within MAX_REGION_BLOCKS and MAX_REGION_INSNS; `excluded(tb)` keeps a TB out
    (stop blocks, stop points and other regions: an exit chains to a region's head, where
    compiling its blocks again doubled strings' and mixed's region compile time for code no
    faster), `warm(code)` says whether a block ran often enough to be
    worth it, `ir(tb)` gives a TB's IR (lifted again for a block of the code cache)."""
    chosen, queue, seen, insns = [], [head], {head.pc}, 0
    while queue and len(chosen) < MAX_REGION_BLOCKS:
        tb = queue.pop(0)
        if chosen and insns + tb.ninsns > MAX_REGION_INSNS:
            continue
        chosen.append(tb)
        insns += tb.ninsns
        for target in direct_targets(ir(tb)):
            dest = blocks.get(target)
            if dest is not None and target not in seen and not excluded(dest) and warm(dest.code):
                seen.add(target)
                queue.append(dest)
    return chosen


def background(mode: str | None = None) -> bool:
    return region_mode(mode) in BACKGROUND
