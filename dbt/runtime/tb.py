"""The translation-block cache: blocks keyed by guest pc, their chains, and invalidation.

A block is translated once (frontend), compiled once (engine), and linked:
each of its direct exits is patched to its target as soon as both exist.
A write to a page holding code drops every block on that page, unlinks the
exits that jumped into them and clears their jump-cache entries.
A hot block is replaced by a region (dbt/runtime/regions.py) that covers the
pages of all its member blocks, so the same writes drop it.
"""
import time
from collections import defaultdict
from dataclasses import dataclass, field

from dbt.backend.interp import evaluate
from dbt.ir.ops import Block
from dbt.ir.passes import optimize
from dbt.ir.verify import verify
from dbt.runtime.memory import PAGE_SHIFT
from dbt.runtime.regions import RegionWorker, select_region


def timed(fn, *args) -> tuple:
    """fn(*args) and the seconds it took."""
    t0 = time.perf_counter()
    return fn(*args), time.perf_counter() - t0


@dataclass(eq=False)
class TranslationBlock:
    pc: int
    size: int
    ninsns: int
    ir: Block
    code: object                                        # engine product
    incoming: list[int] = field(default_factory=list)   # slots patched to jump here
    members: tuple = ()                                 # a region: its blocks' TBs, head first

    @property
    def pages(self) -> set[int]:
        return {page for tb in self.members or (self,)
                for page in range(tb.pc >> PAGE_SHIFT, ((tb.pc + tb.size - 1) >> PAGE_SHIFT) + 1)}

    def covers(self, addr: int) -> bool:
        """Whether the guest code this TB runs includes the byte at `addr`."""
        return any(tb.pc <= addr < tb.pc + tb.size for tb in self.members or (self,))


class TBCache:
    def __init__(self, translator, engine, mem, stats, trace=None, optimize: bool = True,
                 background: bool = False):
        self.translator, self.engine, self.mem, self.stats = translator, engine, mem, stats
        self.worker = RegionWorker() if background else None
        self.counting = getattr(engine, "hot_threshold", None) is not None   # regions on (jit)
        self.trace, self.run_passes = trace, optimize
        self.blocks: dict[int, TranslationBlock] = {}
        self.by_page: dict[int, set] = defaultdict(set)
        self.pending: dict[int, list[int]] = defaultdict(list)   # target pc -> unpatched slots
        self.region_of: dict[int, TranslationBlock] = {}           # pc -> a region holding it
        mem.on_code_write = self.invalidate_page

    def lookup(self, pc: int) -> TranslationBlock:
        tb = self.blocks.get(pc)
        return tb if tb is not None else self.translate(pc)

    def build(self, pc: int, max_insns: int | None = None, stop: bool = False) -> TranslationBlock:
        """Translate and compile a block without caching it."""
        t0 = time.perf_counter()
        block = self.translator.stop_block(pc) if stop else (
            self.translator.translate(pc) if max_insns is None else self.translator.translate(pc, max_insns))
        if self.run_passes:
            optimize(block, evaluate)
        verify(block.ops)
        t1 = time.perf_counter()
        code = self.engine.compile(block, counted=True) if self.counting else self.engine.compile(block)
        t2 = time.perf_counter()
        self.stats.add_time("translate", t1 - t0)
        self.stats.add_time("compile", t2 - t1)
        if self.trace is not None:
            self.trace.block(block, code, self.engine, self.translator.fetch)
        return TranslationBlock(pc, block.size, block.ninsns, block, code)

    def translate(self, pc: int) -> TranslationBlock:
        stop = pc in self.translator.stops
        tb = self.build(pc, stop=stop)
        self.stats.count("blocks_translated")
        if not stop:
            self.mem.mark_code(pc, tb.size)
        self.install(tb)
        return tb

    def install(self, tb: TranslationBlock) -> None:
        """Make `tb` the entry for its pc: link its exits, patch the slots waiting for it."""
        pc = tb.pc
        self.blocks[pc] = tb
        for page in tb.pages:
            self.by_page[page].add(tb)
        for slot, target in getattr(tb.code, "exits", ()):
            dest = self.blocks.get(target)
            if dest is not None:
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
        """Replace the block at `pc` (hot) by a region compiled from it and its direct successors."""
        head = self.blocks.get(pc)
        holder = self.region_of.get(pc)
        if head is None or head.members or pc in self.translator.stops or (
                holder is not None and self.blocks.get(holder.pc) is holder):
            return                                  # gone, a region already, or inside a live one
        members = tuple(select_region(head, self.blocks, self.translator.stops.__contains__,
                                      self.engine.is_warm))
        irs = [tb.ir for tb in members]
        if self.worker is None:
            self.install_region(members, *timed(self.engine.compile_region, irs))
        else:
            self.worker.submit(lambda: timed(self.engine.compile_region, irs),
                               lambda result: self.install_region(members, *result))

    def install_region(self, members: tuple, code, seconds: float) -> None:
        """Make a compiled region the entry for its head's pc, unless a member was dropped
        meanwhile (a store into its code, munmap, a stop point): then it is discarded."""
        self.stats.add_time("region_compile", seconds)
        head, pc = members[0], members[0].pc
        if any(self.blocks.get(tb.pc) is not tb for tb in members):
            self.stats.count("regions_discarded")
            return
        self.stats.count("regions_compiled")
        region = TranslationBlock(pc, head.size, head.ninsns, head.ir, code, members=members)
        self.region_of.update((tb.pc, region) for tb in members)
        del self.blocks[pc]
        for page in head.pages:
            self.by_page[page].discard(head)
        self.pending[pc].extend(head.incoming)      # relinked to the region by install
        head.incoming.clear()
        self.install(region)

    def remove(self, tb: TranslationBlock) -> None:
        if self.blocks.get(tb.pc) is not tb:
            return
        del self.blocks[tb.pc]
        for page in tb.pages:
            self.by_page[page].discard(tb)
        for slot in tb.incoming:
            self.engine.link(slot, None)
            self.pending[tb.pc].append(slot)
        tb.incoming.clear()
        self.engine.jc_clear(tb.pc)
        self.stats.count("blocks_invalidated")

    def invalidate_page(self, page: int) -> None:
        for tb in list(self.by_page.get(page, ())):
            self.remove(tb)
