"""Access groups: one inline memory check for several guest accesses of a block.

Code reaches memory through a few base registers at small constant offsets
(gcc's spills at [rsp+0x50], [rsp+0x58], ...; a structure's fields). When
accesses of one kind (loads, or stores) have addresses `root + constant` with
the same root value, within one stretch of a block that nothing but those
accesses can leave early, and their bytes fit in one page's length, one check
at the first of them covers all: the span is inside the space and both pages
it touches allow the access (at most two pages). Each later access of the
group then goes straight to memory. (A read-modify-write, add [rbx+r11*4], eax,
is a load and a store, each in a group of its kind or alone: checking its span
for writing first, by storing a byte at either end, would stall its load.)

A span that does not pass is not a fault yet: the first access's lowering
leaves the block with Vector.ACCESS_GROUP at that instruction, guest state
exact there, and the runtime interprets the rest of the block, where every
access is checked alone (dbt/runtime/executor.py). Permissions cannot change
inside such a stretch (they change only while the runtime runs), and every
byte of the span lies on a page that an access of the group touches, so a
program whose accesses all pass never takes that way out.
"""
from dataclasses import dataclass

from dbt.ir.ops import OPS, Op, Value
from dbt.runtime.memory import PAGE_SHIFT

SPAN_LIMIT = 1 << PAGE_SHIFT      # bytes a group may cover: so it touches at most two pages


@dataclass
class Group:
    """Accesses sharing a root; `low`/`end` bound their offsets from it, [low, end)."""
    root: Value | None             # None: the addresses are constants
    low: int
    end: int
    members: int = 1
    reads: bool = False            # the span's pages must allow reading
    writes: bool = False           # ... writing


@dataclass(frozen=True)
class Plan:
    """How to check one access: `group` given and `leads`: check the group's whole span
    here; given and not `leads`: a later member, no check; no group: check it alone."""
    group: Group | None = None
    leads: bool = False


ALONE = Plan()


def split_address(addr: Value) -> tuple[Value | None, int]:
    """addr as (root, constant offset): through add/sub of constants and constants."""
    offset = 0
    while addr.op is not None:
        op = addr.op
        if op.opcode == "const":
            return None, (offset + op.attrs["value"]) & 0xFFFF_FFFF_FFFF_FFFF
        if op.opcode not in ("add", "sub") or addr.ty.value != 64:
            break
        left, right = op.args
        if right.op is not None and right.op.opcode == "const":
            value = right.op.attrs["value"]
            offset += value if op.opcode == "add" else -value
            addr = left
        elif op.opcode == "add" and left.op is not None and left.op.opcode == "const":
            offset += left.op.attrs["value"]
            addr = right
        else:
            break
    return addr, offset


def _size(op: Op) -> int:
    value = op.result if op.opcode == "load" else op.args[1]
    return value.ty.value // 8


def _signed(offset: int) -> int:
    offset &= 0xFFFF_FFFF_FFFF_FFFF
    return offset - (1 << 64) if offset >> 63 else offset


def stretches(ops: list[Op]):
    """The loads and stores of `ops` in runs that no other side exit (nor the end) cuts."""
    run = []
    for op in ops:
        if op.opcode in ("load", "store"):
            run.append(op)
        elif OPS[op.opcode].side_exit or OPS[op.opcode].terminator:
            yield run
            run = []
    yield run


def plan_accesses(ops: list[Op]) -> dict[int, Plan]:
    """Plans for the loads and stores of `ops` (by id of the op) that belong to a group of
    two or more; an access missing from the result is checked alone."""
    plans: dict[int, Plan] = {}
    members: list[tuple[Op, Group]] = []
    for accesses in stretches(ops):
        open_groups: dict[tuple, Group] = {}
        for op in accesses:
            root, offset = split_address(op.args[0])
            low, end = _signed(offset), _signed(offset) + _size(op)
            key = (op.opcode, id(root))
            group = open_groups.get(key)
            if group is not None and max(group.end, end) - min(group.low, low) <= SPAN_LIMIT:
                group.low, group.end = min(group.low, low), max(group.end, end)
                group.members += 1
            else:
                group = open_groups[key] = Group(root, low, end, reads=op.opcode == "load",
                                                 writes=op.opcode == "store")
                plans[id(op)] = Plan(group, leads=True)
            members.append((op, group))
    for op, group in members:
        if group.members < 2:
            plans.pop(id(op), None)
        elif id(op) not in plans:
            plans[id(op)] = Plan(group)
    return plans
