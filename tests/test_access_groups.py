"""Access groups (dbt/backend/llvm/access_groups.py): which loads and stores share one check.
Their behaviour on real faults is checked against the host by tests/resource/src/isolation.c
(grouped stores and loads running into pages that refuse them)."""
from dbt.backend.llvm.access_groups import SPAN_LIMIT, plan_accesses, split_address
from dbt.ir.builder import new_block
from dbt.ir.exits import Vector
from dbt.ir.ops import Ty


def accesses(block):
    return [op for op in block.ops if op.opcode in ("load", "store")]


def test_split_address_follows_constant_adds_and_subs():
    _, b = new_block(0)
    rsp = b.get("rsp", Ty.I64)
    assert split_address(b.sub(b.add(rsp, 0x50), 8)) == (rsp, 0x48)
    assert split_address(b.add(b.const(Ty.I64, 16), rsp)) == (rsp, 16)
    assert split_address(b.const(Ty.I64, 0x601000)) == (None, 0x601000)
    scaled = b.shl(b.get("rax", Ty.I64), 3)
    assert split_address(b.add(rsp, scaled))[0] is not rsp


def test_loads_near_one_root_share_the_first_ones_check():
    block, b = new_block(0)
    rsp = b.get("rsp", Ty.I64)
    for offset in (0x50, -8, 0x6C):
        b.load(b.add(rsp, offset), Ty.I32 if offset == 0x6C else Ty.I64)
    b.goto(0)
    plans = plan_accesses(block.ops)
    first, second, third = (plans[id(op)] for op in accesses(block))
    assert first.leads and not second.leads and not third.leads
    assert first.group is second.group is third.group
    assert (first.group.root, first.group.low, first.group.end) == (rsp, -8, 0x70)


def test_groups_keep_to_one_kind_one_root_and_one_page_length():
    block, b = new_block(0)
    rsp, rbx = b.get("rsp", Ty.I64), b.get("rbx", Ty.I64)
    b.load(b.add(rsp, 0), Ty.I64)
    b.store(b.add(rsp, 8), b.const(Ty.I64, 1))      # a store: not in the loads' group
    b.load(rbx, Ty.I64)                               # another root
    b.load(b.add(rsp, SPAN_LIMIT), Ty.I64)            # too far from the first load
    b.load(b.add(rsp, SPAN_LIMIT + 8), Ty.I64)        # but near the one before
    b.goto(0)
    plans = plan_accesses(block.ops)
    ops = accesses(block)
    assert [id(op) in plans for op in ops] == [False, False, False, True, True]
    assert plans[id(ops[3])].leads and plans[id(ops[4])].group is plans[id(ops[3])].group


def test_a_side_exit_between_accesses_ends_their_group():
    block, b = new_block(0)
    rsp = b.get("rsp", Ty.I64)
    b.load(rsp, Ty.I64)
    b.check(b.eq(rsp, 0), Vector.DE)
    b.load(b.add(rsp, 8), Ty.I64)
    b.exit_if(b.eq(rsp, 1), 0x10, 1)
    b.load(b.add(rsp, 16), Ty.I64)
    b.goto(0)
    assert plan_accesses(block.ops) == {}


def test_a_load_and_the_store_of_its_address_are_each_checked_alone():
    """add [rbx], eax: its load and store, one each on rbx, are each a host access of their
    own; a group probing the span for writing before the load (a byte stored then four
    loaded) would stall the load's store forwarding (musl matmul's inner loop)."""
    block, b = new_block(0)
    rbx, rsp = b.get("rbx", Ty.I64), b.get("rsp", Ty.I64)
    b.load(rsp, Ty.I64)
    value = b.load(rbx, Ty.I32)                      # add [rbx], eax
    b.load(b.add(rsp, 8), Ty.I64)
    b.store(rbx, b.add(value, b.const(Ty.I32, 1)))
    b.goto(0)
    plans = plan_accesses(block.ops)
    first, load, second, store = (plans.get(id(op)) for op in accesses(block))
    assert load is None and store is None
    assert first.group is second.group and (first.group.reads, first.group.writes) == (True, False)
