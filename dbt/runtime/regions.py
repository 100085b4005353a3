"""Hot regions: when regions are on, which blocks a hot block's region holds.

First-tier blocks count their entries (in native code) and exit HOT at a
threshold; the block cache then compiles the hot block and the translated
blocks reachable from it by direct exits (a loop, a function and its callees'
blocks, and the return sites of calls whose callee returns inside the region)
and by the target each indirect jump or call last went to (the first tier
records it: with_recorded_target) into one region function (dbt/backend/llvm/region.py) that becomes the entry
for the head pc; a recursive function's region may be three times as large. Modes: off (no counters), on, always (a low threshold,
so tests exercise regions everywhere); `DBT_REGIONS` chooses when the caller
does not. `on` and `always` compile at the HOT exit; `background` compiles on
a thread (dbt/runtime/worker.py) while the guest keeps running its first-tier code
(`dbt run`'s default without a code cache: on the benchmark set, cold runs
take 0-17% less wall time than with `on`, and no more). Which blocks a region
holds then depends on timing, so a later run would often not find it in the
code cache: with a code cache, `dbt run` compiles at once (`on`) by default.
"""
import os
from collections import namedtuple

MODES = ("off", "on", "background", "always")
THRESHOLDS = {"off": None, "on": 1000, "background": 1000, "always": 2}
BACKGROUND = frozenset({"background"})    # modes that compile regions on a background thread
MAX_REGION_BLOCKS = 16
MAX_REGION_INSNS = 160
MAX_RECURSIVE_BLOCKS = 48       # a recursive function's region (select_region)
MAX_RECURSIVE_INSNS = 480
MAX_LEAF_BLOCKS = 4          # a recorded indirect call's callee joins when a leaf this small
MAX_INLINED_LEAF_BLOCKS = 8  # a function heading a region of its own joins whole when a leaf this small
MAX_REGION_PASSES = 4       # select_region: walks that leave out return sites of callees returning outside


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


def return_site(block) -> int | None:
    """The pc a call block's (IR) callee returns to (None: not a call)."""
    return block.terminator.attrs.get("returns_to")


class Exits(namedtuple("Exits", "pc targets returns_to callee ret indirect likely", defaults=(False, None))):
    """What the region walk needs of a block: where it goes on. The code cache keeps it with
    each block, so a warm run chooses regions without lifting their blocks again.
        pc: int
        targets: tuple[int, ...]        direct exits, in IR order (direct_targets)
        returns_to: int | None          a call's return site
        callee: int | None              a direct call's target (an indirect call's recorded one)
        ret: bool                       a ret
        indirect: bool = False          an indirect jump or call (not a ret): its target is recorded
        likely: int | None = None       the target its indirect jump last went to (not cached)
    (collections' namedtuple: typing's NamedTuple imports typing, ~3% of a warm run's start-up.)"""
    __slots__ = ()


def indirect(block) -> bool:
    """Whether a block (IR) ends in an indirect jump or call that is not a ret: counted
    first-tier code records where it goes (lower.py target_name)."""
    return block.terminator.opcode == "jump" and not block.terminator.attrs.get("ret")


def exits_of(block) -> Exits:
    """The Exits of an IR block."""
    returns_to = return_site(block)
    callee = block.terminator.attrs.get("target") if returns_to is not None else None
    return Exits(block.pc, tuple(direct_targets(block)), returns_to, callee, bool(block.terminator.attrs.get("ret")),
                 indirect(block))


def with_recorded_target(e: Exits, target: int | None) -> Exits:
    """`e` with the target its block's indirect jump last went to (first-tier code records it,
    lower.py target_name): the walk follows it (breadth_first) and takes it as an indirect
    call's callee, so that the call's return site may join too (qsort's comparison function
    then runs inside its caller's region). The region's code goes there only when the jump's
    target is that block's pc (region.py indirect_landings)."""
    if not e.indirect or target is None:
        return e
    return e._replace(likely=target, callee=target if e.returns_to is not None else e.callee)


def select_region(head, blocks: dict, excluded, warm, exits) -> list:
    """The head's TB then the warm translated TBs reachable from it by direct exits, breadth
    first, within MAX_REGION_BLOCKS and MAX_REGION_INSNS (a recursive function's within
    MAX_RECURSIVE_BLOCKS and MAX_RECURSIVE_INSNS: its body then fits). A call whose callee's
    entry and ret join the region (recursion, or a small callee of a loop) also leads to its
    return site: the ret then branches there instead of leaving (fib transferred between
    translated functions ~200 M times). `excluded(tb)` keeps a TB out (stop blocks, stop
    points); `warm(code)` says whether a block ran often enough to be worth it, `exits(tb)`
    gives a TB's Exits. Another region's head joins as its first-tier block (fib's ret
    block heads a region of its own)."""
    bigger = walk_with_returns(head, blocks, excluded, warm, exits, MAX_RECURSIVE_BLOCKS, MAX_RECURSIVE_INSNS, True)
    if recursive([exits(tb) for tb in bigger]):
        return bigger
    return walk_with_returns(head, blocks, excluded, warm, exits, MAX_REGION_BLOCKS, MAX_REGION_INSNS, False)


def walk_with_returns(head, blocks: dict, excluded, warm, exits, max_blocks: int, max_insns: int,
                      join_heads: bool) -> list:
    """The breadth-first walk again until every return site it follows is one its callee's
    ret (in the region) comes back to: one whose callee returns from outside would run as a
    first-tier block, unable to head a region of its own (strings: 55 M -> 95 M transfers)."""
    allowed = None                  # callees whose return sites may join (None: any)
    for _ in range(MAX_REGION_PASSES):
        chosen = breadth_first(head, blocks, excluded, warm, exits, lambda pc: allowed is None or pc in allowed,
                               max_blocks, max_insns, join_heads)
        region = [exits(tb) for tb in chosen]
        graph = successors(region)
        followed = {e.callee for e in region if e.returns_to in graph and e.callee is not None
                    and (allowed is None or e.callee in allowed)}
        rets = {e.pc for e in region if e.ret}
        stranded = {pc for pc in followed if pc not in graph or not reachable(graph, pc) & rets}
        if not stranded:
            break
        allowed = followed - stranded
    return chosen


def breadth_first(head, blocks: dict, excluded, warm, exits, follow_call, max_blocks: int, max_insns: int,
                  join_heads: bool) -> list:
    """select_region's walk; follow_call(callee) says whether a call to callee (in the
    region) leads to its return site; join_heads: other regions' heads join (as their
    first-tier blocks), else they stay out. A recorded indirect target (with_recorded_target)
    joins when the direct walk is done, if it is a small leaf function (qsort's comparison),
    even when it heads a region of its own, with a call's return site: any callee, taken
    with the direct walk, crowded the region's own blocks out (printf's vtable call: strings
    67 M -> 119 M transfers). Another region's head that is a small leaf function (memcpy,
    at most MAX_INLINED_LEAF_BLOCKS blocks) joins whole when the walk meets it (take_leaf),
    and a call's return site with it: each call to it then stays in the region instead of
    two transfers and a jump-cache lookup (musl strings 4.6 M -> 2.9 M transfers; musl qsort
    1,197 M -> 1,035 M host instructions. memcpy's loop then sat inside its callers' regions,
    where its flags took @dbt_cc_all every round until region.py lowered a block once for each
    cc_op it is entered with: musl strings 359 M -> 371 M with this alone, 320 M with both)."""
    chosen, queue, seen, insns = [], [head], {head.pc}, 0
    deferred: dict[int, list[int]] = {}      # recorded target -> return sites of its calls

    def visit(target: int, join: bool = join_heads) -> None:
        dest = blocks.get(target)
        if dest is not None and dest.members:
            if not join and target not in seen:
                take_leaf(target)
            dest = dest.members[0] if join else None
        if dest is not None and target not in seen and not excluded(dest) and warm(dest.code):
            seen.add(target)
            queue.append(dest)

    def take_leaf(pc: int) -> None:
        """The small leaf function at pc, which heads a region of its own, joins whole (its
        first-tier blocks) if it fits: a part of it would leave the region into first-tier
        code that, inside a live region, never heads one (sha256's memcpy)."""
        nonlocal insns
        leaf = [tb for tb in leaf_blocks(pc, blocks, exits, MAX_INLINED_LEAF_BLOCKS) or ()
                if tb.pc not in seen and not excluded(tb) and warm(tb.code)]
        size = sum(tb.ninsns for tb in leaf)
        if (leaf and leaf[0].pc == pc and len(chosen) + len(queue) + len(leaf) <= max_blocks
                and insns + size <= max_insns):
            seen.update(tb.pc for tb in leaf)
            chosen.extend(leaf)
            insns += size

    while len(chosen) < max_blocks and (queue or deferred):
        if not queue:
            for target, sites in deferred.items():
                if small_leaf(target, blocks, exits):
                    visit(target, join=True)
                for site in sites if target in seen and follow_call(target) else ():
                    visit(site)
            deferred = {}
            continue
        tb = queue.pop(0)
        if chosen and insns + tb.ninsns > max_insns:
            continue
        chosen.append(tb)
        insns += tb.ninsns
        e = exits(tb)
        for target in e.targets:
            visit(target)
        if e.likely is not None and e.likely not in seen:
            deferred.setdefault(e.likely, []).extend(() if e.returns_to is None else (e.returns_to,))
        if e.callee in seen and follow_call(e.callee):
            visit(e.returns_to)
    return chosen


def small_leaf(pc: int, blocks: dict, exits, limit: int = MAX_LEAF_BLOCKS) -> bool:
    """Whether the translated function at pc is a small leaf: at most `limit` blocks (its
    blocks not translated yet count, though they would not join), calling nothing, jumping
    indirectly only to recorded targets (musl's qsort calls a wrapper that tail-jumps to the
    comparison), that reach a ret."""
    return leaf_blocks(pc, blocks, exits, limit) is not None


def leaf_blocks(pc: int, blocks: dict, exits, limit: int) -> list | None:
    """The translated first-tier blocks of the function at pc, its entry first, if it is a
    small leaf (small_leaf); else None."""
    seen, stack, returns, found = {pc}, [pc], False, []
    while stack:
        tb = blocks.get(stack.pop())
        if tb is None:
            continue
        tb = tb.members[0] if tb.members else tb
        found.append(tb)
        e = exits(tb)
        if e.returns_to is not None or (e.indirect and e.likely is None):
            return None
        returns |= e.ret
        for target in (*e.targets, e.likely):
            if target is not None and target not in seen:
                seen.add(target)
                stack.append(target)
        if len(seen) > limit:
            return None
    return found if returns else None


def successors(region: list[Exits]) -> dict[int, list[int]]:
    """pc -> the pcs of the region's blocks its block continues at: direct exits, a recorded
    indirect target and, for a call, its return site."""
    pcs = {e.pc for e in region}
    return {e.pc: [t for t in (*e.targets, e.likely, e.returns_to) if t in pcs] for e in region}


def reachable(graph: dict[int, list[int]], start: int) -> set[int]:
    seen, stack = {start}, [start]
    while stack:
        for target in graph[stack.pop()]:
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def recursive(region: list[Exits]) -> bool:
    """Whether a call of the region calls a function of the region that reaches it."""
    graph = successors(region)
    return any(e.pc in reachable(graph, e.callee) for e in region if e.callee in graph)


def background(mode: str | None = None) -> bool:
    return region_mode(mode) in BACKGROUND
