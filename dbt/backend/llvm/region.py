"""Lowers a hot region (several IR blocks) to ONE LLVM function, optimised by PASSES.

Guest slots the region touches live in allocas: loaded from the CPU once at
entry, written back on every path that leaves (side exits, fault landings, chains
out, budget/interrupt bails), so LLVM's SROA turns them into SSA values across the
region's blocks. An exit some way to which may have written every slot the region
writes funnels into one `flush` block that writes them all back (a loop's exits); any
other writes back only those (slots_written_before), so that a small function's early
exit stores a few and the entry loads of slots no exit needs are dead. A direct exit (or
an indirect one, e.g. a ret) to a block of the region is a plain branch, not counted in
chain_count / jc_hits (those count transfers between translated functions; a counter in
the loop cost matmul and sieve 10%). The first tier's entry check (cpu.limit read volatile) is kept
where a loop may come back and at the head, for every instruction up to the
next check (entry_checks); fault landings are kept, so rip, registers and
icount are exactly the first tier's at every exit. Runtime fields (exit protocol, icount, budget,
memory tables) are never promoted: icount is tracked per block in its own alloca.
A block whose flags come from another block of the region (a jcc, sbb or setcc after a
block boundary) often reads a cc_op that the ways into it set to one of a few constants
(entry_cc_ops): it is lowered once for each (cc_op_versions), its lazy flags computed inline
there, for LLVM to fold to the flag it needs, instead of calling @dbt_cc_all (12% of musl
qsort's time, for the `sbb` of its comparison callback; 10% of musl strings', for the carry
the `dec` of memcpy's `movsb; dec edx; jnz` loop keeps, the loop inside __fwritex's region).
"""
from dbt.backend.llvm.lower import BlockLowering, ity, literal
from dbt.frontend.x86.flags import ALL_CC_OPS, cc_all_case
from dbt.ir.ops import Block, Op, Ty
from dbt.runtime.cpu import CPUState, SLOTS
from dbt.runtime.regions import direct_targets, return_site

# What makes a region fast is SROA (the guest slots become SSA values), then instcombine,
# GVN and simplifycfg on the result; LLVM's whole -O2 pipeline takes twice as long on
# regions (dozens of fault landings each) for no faster code (README, --regions). Dead store
# elimination and a second instcombine after GVN changed neither the code's speed nor, beyond
# noise, the compile time (strings, mixed, fib, matmul, two runs each): left out. Sinking
# moves what only a fault landing or exit uses (a multiply's overflow flags) off the hot path
# into it: matmul -14% execute, qsort -4%, fib +3%, the rest within noise, same compile time.
PASSES = ("sroa", "instruction_combine", "simplify_cfg", "new_gvn", "simplify_cfg", "sinking")
MAX_CC_VERSIONS = 3     # a region block is lowered once for each of up to this many cc_ops (cc_op_versions)
PROMOTABLE = frozenset(name for name, (offset, _) in SLOTS.items() if offset < CPUState.exit_reason.offset)


class RegionLowering(BlockLowering):
    def __init__(self, blocks: list[Block], name: str):
        super().__init__(blocks[0], name)
        self.blocks = blocks
        self.inside = {b.pc for b in blocks}
        self.landing = indirect_landings(blocks)
        used = {op.attrs["slot"] for b in blocks for op in b.ops if op.opcode in ("get", "put")}
        written = {op.attrs["slot"] for b in blocks for op in b.ops if op.opcode == "put"}
        self.promoted = sorted(used & PROMOTABLE)
        self.written = sorted(written & PROMOTABLE)      # the promoted slots an exit may write back
        entry = entry_cc_ops(blocks, self.landing)
        self.versions = {b.pc: cc_op_versions(b, blocks[0], entry) for b in blocks}
        self.written_before = slots_written_before(blocks, self.landing)
        self.dirty: set[str] = set()                     # slots a way from the entry to here may have written
        self.cc_op: int | None = None                    # the constant cc_op here, if known
        self.constant_cc_ops: dict[int, int] = {}        # id(value of a get of cc_op) -> its constant

    @staticmethod
    def alloca(slot: str) -> str:
        return f"%s_{slot}"

    def slot_ptr(self, slot: str) -> str:
        if slot in self.promoted:
            return self.alloca(slot)
        if slot == "icount":                       # the first tier reads icount at block entry
            return "%icount_slot"
        return super().slot_ptr(slot)

    def leave(self) -> None:
        """Every way out writes back icount and the guest slots that some way from the region's
        entry to this exit may have written (the others hold what the CPU state holds): all
        of them in the shared flush block, else here."""
        self.store_field("icount", self.icount_base)
        if not self.through_flush():
            for slot in self.written:
                if slot in self.dirty:
                    self.copy_slot(slot, to_cpu=True)

    def exit_state(self) -> frozenset:
        return frozenset(self.dirty)

    def through_flush(self) -> bool:
        """Whether the exit being lowered leaves through the shared flush block: some way to it
        may have written every slot the region writes."""
        return self.dirty.issuperset(self.written)

    def exit_with(self, reason: str) -> None:
        if not self.through_flush():
            super().exit_with(reason)
            return
        self.emit("store ptr null, ptr %exit_fn")
        self.emit(f"store i64 {reason}, ptr %exit_why")
        self.emit("br label %flush")

    def tail_call(self, fn: str, counter: str = "chain_count") -> None:
        if not self.through_flush():
            super().tail_call(fn, counter)
            return
        self.count(counter)
        self.emit(f"store ptr {fn}, ptr %exit_fn")
        self.emit("br label %flush")

    def flush(self) -> None:
        """The way out of the exits that may have written every slot: write them back, then
        chain to %exit_fn or return."""
        self.label("flush")
        for slot in self.written:
            self.copy_slot(slot, to_cpu=True)
        fn, null, why = self.fresh(), self.fresh(), self.fresh()
        self.emit(f"{fn} = load ptr, ptr %exit_fn")
        self.emit(f"{null} = icmp eq ptr {fn}, null")
        self.emit(f"br i1 {null}, label %return, label %chain")
        self.label("return")
        self.emit(f"{why} = load i64, ptr %exit_why")
        self.emit(f"ret i64 {why}")
        self.label("chain")
        self.musttail(fn)

    def copy_slot(self, slot: str, to_cpu: bool) -> None:
        """Copy a promoted slot between its alloca and the CPU state."""
        offset, ty = SLOTS[slot]
        value, p = self.fresh(), self.fresh("p")
        self.emit(f"{p} = getelementptr i8, ptr %cpu, i64 {offset}")
        source, dest = (self.alloca(slot), p) if to_cpu else (p, self.alloca(slot))
        self.emit(f"{value} = load {ity(ty)}, ptr {source}, align 8")
        self.emit(f"store {ity(ty)} {value}, ptr {dest}, align 8")

    def module(self) -> str:
        self.label("entry")
        self.load_runtime()
        self.emit("%icount_slot = alloca i64, align 8")
        self.emit("%exit_fn = alloca ptr, align 8")
        self.emit("%exit_why = alloca i64, align 8")
        self.emit("store i64 %icount0, ptr %icount_slot")
        for slot in self.promoted:
            self.emit(f"{self.alloca(slot)} = alloca {ity(SLOTS[slot][1])}, align 16")
            self.copy_slot(slot, to_cpu=False)
        head = self.blocks[0]
        self.emit(f"br label %{self.block_label(head.pc, None)}")
        reach = entry_checks(self.blocks, self.landing)
        for b in self.blocks:
            versions = self.versions[b.pc]
            for cc_op in versions:
                only_from_outside = b is head and cc_op is None and len(versions) > 1
                self.lower_block(b, self.block_label(b.pc, cc_op), cc_op, reach,
                                 frozenset() if only_from_outside else self.written_before[b.pc])
        self.flush()
        return self.assemble()

    def block_label(self, pc: int, cc_op: int | None) -> str:
        """The label of the version of block pc that a way in with `cc_op` enters (a block
        lowered once, unknown flags, takes every way in)."""
        versions = self.versions[pc]
        if len(versions) == 1:
            return f"b_{pc:x}"
        if cc_op not in versions:
            raise AssertionError(f"no version of region block {pc:#x} for cc_op {cc_op}")
        return f"b_{pc:x}_" + ("entry" if cc_op is None else f"{cc_op:x}")

    def lower_block(self, b: Block, label: str, cc_op: int | None, reach: dict[int, int], written: frozenset) -> None:
        """Block `b` at `label`, entered with `cc_op` (a constant, or None: unknown) and with the
        guest slots some way into it may have written, with its entry check if it has one
        (entry_checks)."""
        self.block = b
        self.dirty = set(written)
        self.label(label)
        self.icount_base = self.fresh("icount")
        self.emit(f"{self.icount_base} = load i64, ptr %icount_slot")
        self.pc, self.index = b.pc, 0
        self.cc_op = cc_op
        if b.pc in reach:
            limit = self.fresh()
            self.emit(f"{limit} = load volatile i64, ptr {self.cpu_field('limit')}")
            self.enter_block(b, limit, reach[b.pc])
        self.lower_ops(b.ops)

    def lower_get(self, op: Op) -> None:
        super().lower_get(op)
        if op.attrs["slot"] == "cc_op" and self.cc_op is not None:
            self.constant_cc_ops[id(op.result)] = self.cc_op

    def lower_put(self, op: Op) -> None:
        super().lower_put(op)
        self.dirty.add(op.attrs["slot"])
        if op.attrs["slot"] == "cc_op":
            self.cc_op = constant_cc_op(op.args[0])

    def lower_pure(self, op: Op) -> None:
        """cc_all of a known cc_op: that cc_op's flag computation inline (as @dbt_cc_all's case)."""
        known = self.constant_cc_ops.get(id(op.args[0])) if op.opcode == "cc_all" else None
        if known is None:
            super().lower_pure(op)
            return
        params, ops, result = cc_all_case(known)
        self.names.update((id(param), self.v(arg)) for param, arg in zip(params, op.args[1:]))
        for case_op in ops:
            super().lower_pure(case_op)
        self.names[id(op.result)] = self.v(result)

    def chain_to(self, target: int, retired: int | None = None) -> None:
        if target not in self.inside:
            super().chain_to(target, retired)
            return
        n = self.fresh()
        self.emit(f"{n} = add i64 {self.icount_base}, {self.block.ninsns if retired is None else retired}")
        self.emit(f"store i64 {n}, ptr %icount_slot")
        self.emit(f"br label %{self.block_label(target, self.cc_op)}")

    def lower_jump(self, op: Op) -> None:
        """An indirect jump to a block of the region that it may land on (indirect_landings)
        stays inside it."""
        n = self.fresh()
        self.emit(f"{n} = add i64 {self.icount_base}, {self.block.ninsns}")
        self.emit(f"store i64 {n}, ptr %icount_slot")
        outside = self.fresh("outside").lstrip("%")
        prefix = f"j_{self.counter}_"             # unique per jump: the counter moved with `outside`
        landings = sorted(self.landing(self.block))
        cases = " ".join(f"i64 {literal(Ty.I64, pc)}, label %{prefix}{pc:x}" for pc in landings)
        self.emit(f"switch i64 {self.v(op.args[0])}, label %{outside} [ {cases} ]")
        for pc in landings:
            self.label(f"{prefix}{pc:x}")
            self.emit(f"br label %{self.block_label(pc, self.cc_op)}")
        self.label(outside)
        super().lower_jump(op)


def entry_checks(blocks: list[Block], landing) -> dict[int, int]:
    """Where a region checks its budget and exit_request (cpu.limit): at its head and at every block a branch
    may reach from itself or a later block (so each loop has a check), pc -> the most guest
    instructions a path from there runs before the next check or an exit. Every other block
    goes unchecked: the check before it allowed for it. When a check does not pass, the
    region leaves at that block, nothing of it retired, as a first-tier block would. An
    indirect jump reaches the blocks it may land on (`landing`, indirect_landings): a jump
    table's blocks after it need no check of their own (musl's printf_core: most of them)."""
    order = {b.pc: i for i, b in enumerate(blocks)}
    size = {b.pc: b.ninsns for b in blocks}
    successors = {b.pc: [t for t in (*direct_targets(b), *(landing(b) if b.terminator.opcode == "jump" else ()))
                         if t in order] for b in blocks}
    checked = {blocks[0].pc} | {t for pc, ts in successors.items() for t in ts if order[t] <= order[pc]}
    reach: dict[int, int] = {}

    def longest(pc: int) -> int:           # edges to unchecked blocks only go forward: a DAG
        if pc not in reach:
            reach[pc] = size[pc] + max((longest(t) for t in successors[pc] if t not in checked), default=0)
        return reach[pc]
    return {pc: longest(pc) for pc in checked}


def constant_cc_op(value) -> int | None:
    """The cc_op a put stores, when it is a valid constant."""
    if value.op is not None and value.op.opcode == "const" and value.op.attrs["value"] in ALL_CC_OPS:
        return value.op.attrs["value"]
    return None


def indirect_landings(blocks: list[Block]):
    """landing(block): the region's blocks where an indirect jump ending `block` stays inside
    the region: for a ret, the return sites of the region's calls; for any other, the head
    and every block no direct exit of the region reaches (a jump table's cases, a called
    function's entry). Elsewhere it leaves through the jump cache. A block a direct exit
    reaches is left out so that its flags may come from that exit alone (entry_cc_ops):
    musl's qsort calls its comparison through a wrapper's indirect jump, and the comparison's
    `sbb` after a `je` called @dbt_cc_all (4% of the run) while that jump could land on it."""
    inside = {b.pc for b in blocks}
    return_sites = {return_site(b) for b in blocks} & inside
    reached = {t for b in blocks for t in direct_targets(b)}
    unreached = {pc for pc in inside if pc not in reached} | {blocks[0].pc}
    return lambda block: return_sites if block.terminator.attrs.get("ret") else unreached


def entry_cc_ops(blocks: list[Block], landing) -> dict[int, frozenset]:
    """pc -> the cc_ops the ways into that block from the region's blocks leave (None: one
    that is not a constant): a direct exit (exit_if, goto, branch) with the cc_op at that
    point, or an indirect jump where it may land (landing: indirect_landings of the blocks),
    from each version the block is lowered in (cc_op_versions). The head's way in from
    outside is not counted: it has a version of its own."""
    inside = {b.pc for b in blocks}
    entry: dict[int, set] = {b.pc: set() for b in blocks}
    changed = True
    while changed:
        changed = False
        for b in blocks:
            for cc_in in cc_op_versions(b, blocks[0], entry):
                for target, cc_op in cc_op_edges(b, cc_in, landing):
                    if target in inside and cc_op not in entry[target]:
                        entry[target].add(cc_op)
                        changed = True
    return {pc: frozenset(ways) for pc, ways in entry.items()}


def cc_op_versions(b: Block, head: Block, entry) -> tuple:
    """The cc_ops block `b` is lowered with, given the cc_ops the ways into it leave (entry:
    entry_cc_ops): one version for each when they are at most MAX_CC_VERSIONS constants,
    else one with the flags unknown (None). The head has a version for the way in from
    outside (None), besides one for each of at most MAX_CC_VERSIONS - 1 constant ways back;
    that version takes the ways back too when they are not such constants."""
    ways = entry[b.pc]
    if b is head:
        return (None,) if None in ways or len(ways) >= MAX_CC_VERSIONS else (None, *sorted(ways))
    return tuple(sorted(ways)) if ways and None not in ways and len(ways) <= MAX_CC_VERSIONS else (None,)


def cc_op_edges(b: Block, cc_op: int | None, landing):
    """(target, cc_op) for each way block `b`, entered with cc_op, may go to a block of its
    region: a direct exit, or an indirect jump where it may land (indirect_landings)."""
    for op in b.ops:
        if op.opcode == "put" and op.attrs["slot"] == "cc_op":
            cc_op = constant_cc_op(op.args[0])
        elif op.opcode in ("exit_if", "goto"):
            yield op.attrs["target"], cc_op
        elif op.opcode == "branch":
            yield op.attrs["taken"], cc_op
            yield op.attrs["fallthrough"], cc_op
        elif op.opcode == "jump":
            yield from ((pc, cc_op) for pc in landing(b))


def slots_written_before(blocks: list[Block], landing) -> dict[int, frozenset]:
    """pc -> the guest slots some way from the region's entry into that block of the region
    may have written (landing: indirect_landings of the blocks); a way in from outside
    has written none. An exit writes back only these and the block's own puts before it
    (RegionLowering.leave): a region of a small function left at its first branch stored
    all it might write, so its entry loaded them all."""
    written_by = {b.pc: frozenset(op.attrs["slot"] for op in b.ops if op.opcode == "put") for b in blocks}
    before: dict[int, frozenset] = {b.pc: frozenset() for b in blocks}
    changed = True
    while changed:
        changed = False
        for b in blocks:
            out = before[b.pc] | written_by[b.pc]
            for target, _ in cc_op_edges(b, None, landing):
                if target in before and not out <= before[target]:
                    before[target] |= out
                    changed = True
    return before


def lower_region(blocks: list[Block], name: str) -> tuple[str, list[tuple[str, int]]]:
    """LLVM module text for a region headed by blocks[0], and its exit slots (global, target pc)."""
    lowering = RegionLowering(blocks, name)
    text = lowering.module()
    return text, lowering.slots
