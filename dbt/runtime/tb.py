"""The translation-block cache: blocks keyed by guest pc, their chains, and invalidation.

A block is translated once (frontend), compiled once (engine), and linked:
each of its direct exits is patched to its target as soon as both exist.
A write to a page holding code drops every block on that page, unlinks the
exits that jumped into them and clears their jump-cache entries.
With a persistent code cache (the JIT's codecache.py), a block that guest
memory still holds as an earlier run compiled it is loaded instead: no
decoding, lifting nor compiling (its IR is lifted again only if asked for).
At a stop point the cached block is a stop block; its real code (`body`) is
run by the executor after whatever the stop asks for (hooks).
A hot block is replaced by a region (dbt/runtime/regions.py) that covers the
pages of all its member blocks, so the same writes drop it. A region never
holds a stop block, a block starting at a stop point nor the head of another
region (it chains to that region instead of compiling its blocks again), and dropping the
blocks at an address drops the regions whose members hold it. With a
persistent code cache, a region whose members guest memory still holds as an
earlier run compiled them is loaded from it instead of compiled (`region_source`).
With a tier 0 (dbt/runtime/tiers.py), a new block is only lifted: the executor
interprets its IR until its N-th run, when it is compiled and installed as any
block; until then no exit links to it and the jump cache does not hold it.
"""
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from dbt.backend.interp import evaluate
from dbt.ir.ops import Block
from dbt.ir.passes import optimize
from dbt.ir.verify import verify
from dbt.runtime.memory import PAGE_SHIFT
from dbt.runtime.regions import Exits, exits_of, select_region, with_recorded_target
from dbt.runtime.worker import RegionWorker


def cached_exits(cached) -> Exits:
    """The Exits the code cache kept with a block (its targets are its slots' targets, in
    IR order: lower.py chains exit_if, goto and branch exits in order)."""
    return Exits(cached.pc, cached.targets, cached.returns_to, cached.callee, cached.ret, cached.indirect)


def timed(fn, *args) -> tuple:
    """fn(*args) and the seconds it took."""
    t0 = time.perf_counter()
    return fn(*args), time.perf_counter() - t0


@dataclass(eq=False)
class TranslationBlock:
    pc: int
    size: int
    ninsns: int
    ir: Block | None                                    # None until asked for, when loaded from the code cache
    code: object                                        # engine product
    incoming: list[int] = field(default_factory=list)   # slots patched to jump here
    stop: bool = False                                  # a stop block (dbt/frontend/stops.py)
    body: "TranslationBlock | None" = None              # a stop block's real code, unlinked
    members: tuple = ()                                 # a region: its blocks' TBs, head first
    runs: int | None = None                             # tier 0 (code None): times run so far
    cache_page: bytes | None = None                     # tier 0: digest of its page for the code cache
    exits: Exits | None = None                          # where it goes on (regions.py), once asked for

    @property
    def pages(self) -> set[int]:
        return {page for tb in self.members or (self,)
                for page in range(tb.pc >> PAGE_SHIFT, ((tb.pc + tb.size - 1) >> PAGE_SHIFT) + 1)}

    def overlaps(self, begin: int, end: int) -> bool:
        """Whether the guest code this TB runs (a region's members, a stop block's body)
        overlaps [begin, end)."""
        spans = [(tb.pc, tb.size) for tb in self.members or (self,)]
        if self.body is not None:
            spans.append((self.body.pc, self.body.size))
        return any(pc < end and begin < pc + size for pc, size in spans)

    @property
    def tier0(self) -> bool:
        return self.runs is not None

    def all_pages(self) -> set[int]:
        return set(self.pages) | (set(self.body.pages) if self.body is not None else set())


class TBCache:
    def __init__(self, translator, engine, mem, stats, trace=None, optimize: bool = True, codecache=None,
                 background: bool = False, jit_after: int = 1):
        """jit_after: a new block is interpreted (tier 0) until its jit_after-th run, then compiled."""
        self.translator, self.engine, self.mem, self.stats = translator, engine, mem, stats
        self.trace, self.run_passes, self.codecache = trace, optimize, codecache
        self.worker = RegionWorker() if background else None
        self.jit_after = jit_after
        self.batching = jit_after > 1 and hasattr(engine, "compile_many")
        self.ripening: list[TranslationBlock] = []       # tier-0 blocks halfway to jit_after runs
        self.counting = getattr(engine, "hot_threshold", None) is not None   # regions on (jit)
        self.blocks: dict[int, TranslationBlock] = {}
        self.by_page: dict[int, set] = defaultdict(set)
        self.pending: dict[int, list[int]] = defaultdict(list)   # target pc -> unpatched slots
        self.region_of: dict[int, TranslationBlock] = {}           # pc -> a region holding it
        self.queued: Counter = Counter()        # background: pc -> regions being compiled that hold it
        mem.on_code_write = self.invalidate_page

    def lookup(self, pc: int) -> TranslationBlock:
        """The TB for pc, translated if need be. Asked for after an exit that missed, so the
        jump-cache entry of pc is (re)filled: an indirect jump there stays native next time."""
        if self.worker is not None and self.worker.pending():
            self.worker.install_ready()
        tb = self.blocks.get(pc)
        if tb is None:
            return self.translate(pc)
        if not tb.tier0:
            self.engine.jc_set(pc, tb.code)
        return tb

    def lift(self, pc: int, max_insns: int | None = None) -> Block:
        """The optimised, verified IR of the block at pc."""
        block = self.translator.translate(pc) if max_insns is None else self.translator.translate(pc, max_insns)
        if self.run_passes:
            optimize(block, evaluate)
        verify(block.ops)
        return block

    def block_exits(self, tb: TranslationBlock) -> Exits:
        """A block's Exits: kept by the code cache for a cached block, else from its IR."""
        if tb.exits is None:
            tb.exits = exits_of(self.block_ir(tb))
        return tb.exits

    def walk_exits(self, tb: TranslationBlock) -> Exits:
        """A TB's Exits for the region walk: with the target its indirect jump last went to."""
        recorded = self.engine.recorded_target(tb.code) if tb.code is not None else None
        return with_recorded_target(self.block_exits(tb), recorded)

    def block_ir(self, tb: TranslationBlock) -> Block:
        """A block's IR; a block loaded from the code cache is lifted again (its bytes are unchanged)."""
        if tb.ir is None:
            tb.ir = self.lift_timed(tb.pc, tb.ninsns)
        return tb.ir

    def build(self, pc: int, max_insns: int | None = None, stop: bool = False,
              cache_page: bytes | None = None, counted: bool = False) -> TranslationBlock:
        """Translate and compile a block without caching it. cache_page: the digest of pc's page,
        to keep the code in the persistent code cache; counted: it counts its entries and exits
        HOT (regions on; never a stop block nor its body, which the hooks run)."""
        block = self.lift_timed(pc, max_insns, stop)
        code = self.compile(block, cache_page, counted, traced=not stop)
        return TranslationBlock(pc, block.size, block.ninsns, block, code)

    def lift_timed(self, pc: int, max_insns: int | None = None, stop: bool = False) -> Block:
        """The IR of the block (a stop block's with `stop`) at pc, its decode and lift times counted."""
        t0, decoded = time.perf_counter(), self.translator.decode_seconds
        block = self.translator.stop_block(pc) if stop else self.lift(pc, max_insns)
        decode = self.translator.decode_seconds - decoded
        self.stats.add_time("decode", decode)
        self.stats.add_time("lift", time.perf_counter() - t0 - decode)
        return block

    def compile(self, block: Block, cache_page: bytes | None, counted: bool, traced: bool = True):
        """The engine's code for `block`, its compile time counted, kept in the persistent code
        cache under cache_page (if not None) and shown by -d (if `traced`)."""
        t0 = time.perf_counter()
        key = self.cache_key(block, cache_page)
        code = self.engine.compile(block, key, counted=True) if counted else self.engine.compile(block, key)
        self.stats.add_time("compile", time.perf_counter() - t0)
        if key is not None:
            self.codecache.add(cache_page, key, block, code, exits_of(block))
        if traced:
            self.show(block, code)
        return code

    def cache_key(self, block: Block, cache_page: bytes | None) -> bytes | None:
        """The code-cache key of `block` when its page's bundle (cache_page) is to keep it."""
        if cache_page is None or not block.ninsns:     # an invalid first insn depends on bytes past size
            return None
        return self.codecache.block_key(block.pc, self.mem.peek(block.pc, block.size))

    def show(self, block: Block, code) -> None:
        """Trace a freshly compiled block (-d in_asm, op, out_asm), if tracing."""
        if self.trace is not None:
            self.trace.block(block, code, self.engine, self.translator.fetch)

    def load(self, page: bytes, cached) -> TranslationBlock:
        """A block of the persistent code cache (on the page of digest `page`), made ready to
        run; installed with it, the page's other cached blocks that guest memory still holds
        and no TB holds yet: the run that cached them ran them, and loading a page's blocks
        at once is faster (jit.py add_objects)."""
        t0 = time.perf_counter()
        others = self.codecache.held(self.mem, page, self.translator.stops,
                                     lambda pc: pc != cached.pc and pc not in self.blocks)
        codes = self.engine.load_many([cached, *others])
        self.stats.add_time("cache_load", time.perf_counter() - t0)
        for block, code in zip(others, codes[1:]):
            self.stats.count("code_cache_hits")
            self.stats.count_tier("block")
            self.mem.mark_code(block.pc, block.size)
            self.install(TranslationBlock(block.pc, block.size, block.ninsns, None, code, exits=cached_exits(block)))
        return TranslationBlock(cached.pc, cached.size, cached.ninsns, None, codes[0], exits=cached_exits(cached))

    def translate(self, pc: int) -> TranslationBlock:
        stop = self.translator.stops.enters(pc)
        page = cached = None
        if self.codecache is not None and not stop:
            page, cached = self.codecache.find(self.mem, pc, self.translator.stops)
            if page is not None:
                self.stats.count("code_cache_misses" if cached is None else "code_cache_hits")
        if cached is not None:
            tb = self.load(page, cached)
            self.stats.count_tier("block")
        elif self.jit_after > 1 and not stop:
            block = self.lift_timed(pc)
            tb = TranslationBlock(pc, block.size, block.ninsns, block, None, runs=0, cache_page=page)
            self.stats.count("blocks_translated")
            self.stats.count_tier("interp")
        else:
            tb = self.build(pc, stop=stop, cache_page=page, counted=self.counting and not stop)
            self.stats.count("blocks_translated")
            self.stats.count_tier("block")
        tb.stop = stop
        if not stop:
            self.mem.mark_code(pc, tb.size)
        self.install(tb)
        return tb

    def promote(self, tb: TranslationBlock) -> bool:
        """Count a run of tier-0 block `tb`; on its jit_after-th, compile and install it.
        Whether it is now native code. The tier-0 blocks halfway there are compiled with it
        (see compile_batch)."""
        tb.runs += 1
        if tb.runs < self.jit_after:
            if tb.runs == self.jit_after // 2 and self.batching:
                self.ripening.append(tb)
            return False
        if not self.batching:
            self.compile_tier0(tb)
            return True
        batch = [tb] + [t for t in self.ripening if t is not tb and t.tier0 and self.blocks.get(t.pc) is t]
        self.ripening.clear()
        self.compile_batch(batch)
        return True

    def compile_batch(self, tbs: list) -> None:
        """Compile and install tier-0 blocks, one module for those of each guest page that the
        code cache keeps (their bundle holds the module's object once) and one for the rest.
        Measured, `--no-cache` strings: 332 blocks compiled in 536 ms one by one, 339 in 304 ms
        so batched; sieve 58 in 91 ms, 71 in 71 ms."""
        t0 = time.perf_counter()
        modules = defaultdict(list)         # cache page (None: not kept) -> [(tb, key)]
        for tb in tbs:
            key = self.cache_key(tb.ir, tb.cache_page)
            modules[tb.cache_page if key is not None else None].append((tb, key))
        compiled = []
        for page, members in modules.items():
            codes = self.engine.compile_many([tb.ir for tb, _ in members], self.counting,
                                             [key for _, key in members])
            compiled.extend((page, key, tb, code) for (tb, key), code in zip(members, codes))
        self.stats.add_time("compile", time.perf_counter() - t0)
        for page, key, tb, code in compiled:
            if key is not None:
                self.codecache.add(page, key, tb.ir, code, exits_of(tb.ir))
            self.show(tb.ir, code)
            self.install_compiled(tb, code)

    def install_compiled(self, tb: TranslationBlock, code) -> None:
        """Tier-0 block `tb`, now compiled to `code`, becomes a first-tier block."""
        tb.code = code
        tb.runs = tb.cache_page = None
        self.stats.count_tier("interp", -1)
        self.stats.count_tier("block")
        self.install(tb)

    def compile_tier0(self, tb: TranslationBlock) -> None:
        """Compile and install tier-0 block `tb` (and keep it in the persistent code cache)."""
        self.install_compiled(tb, self.compile(tb.ir, tb.cache_page, self.counting))

    def install(self, tb: TranslationBlock) -> None:
        """Make `tb` the entry for its pc: link its exits, patch the slots waiting for it
        (a tier-0 block is only recorded: exits wait for it until it is compiled)."""
        pc = tb.pc
        self.blocks[pc] = tb
        for page in tb.pages:
            self.by_page[page].add(tb)
        if tb.tier0:
            return
        for slot, target in getattr(tb.code, "exits", ()):
            dest = self.blocks.get(target)
            if dest is not None and not dest.tier0:
                self.engine.link(slot, dest.code)
                dest.incoming.append(slot)
            else:
                self.pending[target].append(slot)
        for slot in self.pending.pop(pc, ()):
            self.engine.link(slot, tb.code)
            tb.incoming.append(slot)
        if tb.members:
            self.engine.jc_replace(pc, tb.code)     # safe while translated code runs
        else:
            self.engine.jc_set(pc, tb.code)

    def regionize(self, pc: int) -> None:
        """Replace the block at `pc` (hot) by a region compiled from it and its direct successors
        (or loaded from the persistent code cache)."""
        head = self.blocks.get(pc)
        holder = self.region_of.get(pc)
        if head is None or head.members or self.stops_at(head) or pc in self.queued or (
                holder is not None and self.blocks.get(holder.pc) is holder):
            return                  # gone, a region already, a stop, inside a live one or a queued one
        members = tuple(select_region(head, self.blocks, lambda tb: tb.tier0 or self.stops_at(tb),
                                      self.engine.is_warm, self.walk_exits))
        job, timer, keep = self.region_source(members)
        if self.worker is None or timer == "cache_load":       # loading is quick: no need to wait
            self.install_region(members, *timed(job), timer, keep)
        else:
            self.queued.update(tb.pc for tb in members)      # a pc may be in two queued regions
            counted = self.engine.entries(head.code)
            self.worker.submit(lambda: timed(job), lambda result: self.install_region(members, *result, timer, keep),
                               urgency=lambda: self.engine.entries(head.code) - counted)

    def region_source(self, members: tuple) -> tuple:
        """(how to get the region's code, the timer it counts in, how to keep it in the code
        cache or None): loaded from the persistent code cache when it holds it, else compiled."""
        located = self.region_location(members)
        if located is None:
            irs = [self.block_ir(tb) for tb in members]
            return (lambda: self.engine.compile_region(irs)), "region_compile", None
        page, key = located
        cached = self.codecache.find_region(page, members[0].pc, key)
        if cached is not None:
            self.stats.count("region_cache_hits")
            return (lambda: self.engine.load_region(cached)), "cache_load", None
        self.stats.count("region_cache_misses")
        irs = [self.block_ir(tb) for tb in members]
        keep = lambda code: self.codecache.add(self.codecache.region_bundle(page), key, members[0], code)  # noqa: E731
        return (lambda: self.engine.compile_region(irs, key)), "region_compile", keep

    def region_location(self, members: tuple) -> tuple[bytes, bytes] | None:
        """(digest of the head's page, the region's code-cache key), or None when it is not to be
        cached: no code cache, or a member on a volatile page or without instructions."""
        if self.codecache is None:
            return None
        page = self.codecache.page_of(self.mem, members[0].pc)
        if page is None or any(tb.ninsns == 0 or tb.pages & self.codecache.volatile for tb in members):
            return None
        keys = [self.codecache.block_key(tb.pc, self.mem.peek(tb.pc, tb.size)) for tb in members]
        return page, self.codecache.region_key(keys)

    @staticmethod
    def heads(region: TranslationBlock | None, tb: TranslationBlock) -> bool:
        """Whether `region` is a region headed by block `tb`."""
        return region is not None and bool(region.members) and region.members[0] is tb

    def stops_at(self, tb: TranslationBlock) -> bool:
        """Whether `tb` is, or must be, a stop block: a region never runs past it."""
        return tb.stop or tb.body is not None or self.translator.stops.enters(tb.pc)

    def install_region(self, members: tuple, code, seconds: float, timer: str = "region_compile",
                       keep=None) -> None:
        """Make a region's code the entry for its head's pc, unless a member was dropped
        meanwhile (a store into its code, munmap, a stop point): then it is discarded. A member
        that has become another region's head meanwhile (background compiles) is still its
        code: discarding such regions had fib compile 18 regions to install 9.
        `seconds` count in `timer`; keep(code) adds freshly compiled code to the code cache."""
        self.stats.add_time(timer, seconds)
        self.queued -= Counter(tb.pc for tb in members)
        head, pc = members[0], members[0].pc
        current = [tb for tb in members if self.blocks.get(tb.pc) is tb
                   or (tb is not head and self.heads(self.blocks.get(tb.pc), tb))]
        if len(current) < len(members):
            self.stats.count("regions_discarded")
            for tb in current:                      # their HOT exits were spent on this region
                self.engine.recount(tb.code)
            return
        if keep is not None:
            keep(code)
        if timer == "region_compile":
            self.stats.count("regions_compiled")
        region = TranslationBlock(pc, head.size, head.ninsns, head.ir, code, members=members)
        self.stats.count_tier("region", len(members))
        self.region_of.update((tb.pc, region) for tb in members)
        del self.blocks[pc]
        for page in head.pages:
            self.by_page[page].discard(head)
        self.pending[pc].extend(head.incoming)      # relinked to the region by install
        head.incoming.clear()
        self.install(region)

    def save(self) -> None:
        """Write the blocks compiled so far to the persistent code cache, if there is one. Tier-0
        blocks it would keep are compiled first (a module a page), so that a warm run loads
        every block."""
        if self.codecache is not None:
            tier0 = [tb for tb in self.blocks.values() if tb.tier0 and tb.cache_page is not None]
            if tier0:
                self.compile_batch(tier0)
            self.codecache.save()

    def body(self, tb: TranslationBlock) -> TranslationBlock:
        """The real code behind stop block `tb`, translated on first use. Its exits are never
        linked (each returns to the executor, which meets the stop blocks again)."""
        if tb.body is None:
            tb.body = self.build(tb.pc)
            self.stats.count("blocks_translated")
            self.mem.mark_code(tb.pc, tb.body.size)
            for page in tb.body.pages:
                self.by_page[page].add(tb)
        return tb.body

    def remove(self, tb: TranslationBlock) -> None:
        if self.blocks.get(tb.pc) is not tb:
            return
        del self.blocks[tb.pc]
        for page in tb.all_pages():
            self.by_page[page].discard(tb)
        for slot in tb.incoming:
            self.engine.link(slot, None)
            self.pending[tb.pc].append(slot)
        tb.incoming.clear()
        self.engine.jc_clear(tb.pc)
        self.stats.count("blocks_invalidated")

    def invalidate_page(self, page: int) -> None:
        if self.codecache is not None:
            self.codecache.volatile.add(page)
        for tb in list(self.by_page.get(page, ())):
            self.remove(tb)

    def drop(self, begin: int, end: int) -> None:
        """Drop the blocks and regions whose code overlaps [begin, end) (retranslated on next use)."""
        for tb in [tb for tb in self.blocks.values() if tb.overlaps(begin, end)]:
            self.remove(tb)
