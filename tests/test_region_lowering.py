"""Region lowering (dbt/backend/llvm/region.py) on made-up IR blocks: where an indirect jump
may land inside the region, and the flags a block then knows on entry."""
from dbt.backend.llvm.region import entry_cc_ops, indirect_landings, loop_head_cc_op, lower_region
from dbt.frontend.x86.flags import CCKind, cc_op_value
from dbt.ir.builder import new_block
from dbt.ir.ops import Ty

HEAD, WRAPPER, COMPARE, SBB, EQUAL = 0x1000, 0x2000, 0x3000, 0x3006, 0x3010
SUB32 = cc_op_value(CCKind.SUB, Ty.I32)
DEC32 = cc_op_value(CCKind.DEC, Ty.I32)
AFTER = 0x4000


def comparison_region():
    """musl's qsort loop: HEAD calls through WRAPPER, whose indirect jump goes to COMPARE
    (cmp, then je EQUAL); SBB, the je's fallthrough, reads the flags the cmp left."""
    head, b = new_block(HEAD)
    b.put("cc_op", b.const(Ty.I64, 0))
    b.goto(WRAPPER)
    wrapper, b = new_block(WRAPPER)
    b.jump(b.get("rdx", Ty.I64))
    compare, b = new_block(COMPARE)
    x, y = b.get("rax", Ty.I64), b.get("rcx", Ty.I64)
    b.put("cc_op", b.const(Ty.I64, SUB32))
    b.put("cc_dst", b.sub(x, y))
    b.put("cc_src", y)
    b.branch(b.eq(x, y), EQUAL, SBB)
    sbb, b = new_block(SBB)
    flags = b.cc_all(b.get("cc_op", Ty.I64), b.get("cc_dst", Ty.I64), b.get("cc_src", Ty.I64),
                     b.get("cc_src2", Ty.I64))
    b.put("rax", b.and_(flags, b.const(Ty.I64, 1)))
    b.jump(b.get("rsp", Ty.I64), ret=True)
    equal, b = new_block(EQUAL)
    b.jump(b.get("rsp", Ty.I64), ret=True)
    return [head, wrapper, compare, sbb, equal]


def test_an_indirect_jump_lands_only_where_no_direct_exit_leads():
    blocks = comparison_region()
    landing = indirect_landings(blocks)
    assert landing(blocks[1]) == {HEAD, COMPARE}      # WRAPPER, SBB and EQUAL have direct ways in


def test_a_block_a_direct_exit_reaches_knows_its_flags():
    blocks = comparison_region()
    assert entry_cc_ops(blocks, indirect_landings(blocks))[SBB] == SUB32
    text, _ = lower_region(blocks, "rg_test")
    assert "call i64 @dbt_cc_all" not in text       # the sbb's carry is computed inline
    assert f"i64 {COMPARE}, label" in text           # the wrapper's jump still lands on COMPARE


def decrement_loop(back_cc_op: int | None = DEC32):
    """musl's memcpy tail, `dec edx; jnz` looping to itself: `dec` keeps the carry of the flags
    before it, so the head reads the cc_op it is entered with; back_cc_op: the one the loop
    sets (None: one its own flags do not fix)."""
    head, b = new_block(HEAD)
    flags = b.cc_all(b.get("cc_op", Ty.I64), b.get("cc_dst", Ty.I64), b.get("cc_src", Ty.I64),
                     b.get("cc_src2", Ty.I64))
    count = b.sub(b.get("rdx", Ty.I64), b.const(Ty.I64, 1))
    b.put("rdx", count)
    b.put("cc_op", b.const(Ty.I64, back_cc_op) if back_cc_op is not None else b.get("rax", Ty.I64))
    b.put("cc_dst", count)
    b.put("cc_src", b.and_(flags, b.const(Ty.I64, 1)))
    b.branch(b.eq(count, b.const(Ty.I64, 0)), AFTER, HEAD)
    return [head]


def test_a_loop_head_whose_back_edges_fix_its_flags_is_lowered_twice():
    blocks = decrement_loop()
    landing = indirect_landings(blocks)
    assert entry_cc_ops(blocks, landing)[HEAD] is None       # entered from outside: unknown
    assert loop_head_cc_op(blocks, entry_cc_ops(blocks, landing), landing) == DEC32
    text, _ = lower_region(blocks, "rg_test")
    assert f"b_{HEAD:x}_entry:" in text and f"b_{HEAD:x}:" in text
    assert text.count("call i64 @dbt_cc_all") == 1         # on the way in only, not in the loop
    unknown = decrement_loop(back_cc_op=None)
    landing = indirect_landings(unknown)
    assert loop_head_cc_op(unknown, entry_cc_ops(unknown, landing), landing) is None
    assert f"b_{HEAD:x}_entry:" not in lower_region(unknown, "rg_test")[0]
