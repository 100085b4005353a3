"""Region lowering (dbt/backend/llvm/region.py) on made-up IR blocks: where an indirect jump
may land inside the region, the flags a block then knows on entry, and what each exit writes back."""
from dbt.backend.llvm.region import (cc_op_versions, entry_cc_ops, indirect_landings, lower_region,
                                     slots_written_before)
from dbt.frontend.x86.flags import CCKind, cc_op_value
from dbt.ir.builder import new_block
from dbt.ir.ops import Ty
from dbt.runtime.cpu import SLOTS

HEAD, WRAPPER, COMPARE, SBB, EQUAL = 0x1000, 0x2000, 0x3000, 0x3006, 0x3010
SUB32 = cc_op_value(CCKind.SUB, Ty.I32)
DEC32 = cc_op_value(CCKind.DEC, Ty.I32)
AFTER, TAIL = 0x4000, 0x5000


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
    assert entry_cc_ops(blocks, indirect_landings(blocks))[SBB] == {SUB32}
    text, _ = lower_region(blocks, "rg_test")
    assert "call i64 @dbt_cc_all" not in text       # the sbb's carry is computed inline
    assert f"i64 {COMPARE}, label" in text           # the wrapper's jump still lands on COMPARE


def decrement_loop(back_cc_op: int | None = DEC32, pc: int = HEAD):
    """musl's memcpy tail, `dec edx; jnz` looping to itself at pc: `dec` keeps the carry of the
    flags before it, so the block reads the cc_op it is entered with; back_cc_op: the one the
    loop sets (None: one its own flags do not fix)."""
    head, b = new_block(pc)
    flags = b.cc_all(b.get("cc_op", Ty.I64), b.get("cc_dst", Ty.I64), b.get("cc_src", Ty.I64),
                     b.get("cc_src2", Ty.I64))
    count = b.sub(b.get("rdx", Ty.I64), b.const(Ty.I64, 1))
    b.put("rdx", count)
    b.put("cc_op", b.const(Ty.I64, back_cc_op) if back_cc_op is not None else b.get("rax", Ty.I64))
    b.put("cc_dst", count)
    b.put("cc_src", b.and_(flags, b.const(Ty.I64, 1)))
    b.branch(b.eq(count, b.const(Ty.I64, 0)), AFTER, pc)
    return [head]


def versions(blocks: list) -> dict[int, tuple]:
    entry = entry_cc_ops(blocks, indirect_landings(blocks))
    return {b.pc: cc_op_versions(b, blocks[0], entry) for b in blocks}


def test_a_loop_head_whose_back_edges_fix_its_flags_is_lowered_twice():
    blocks = decrement_loop()
    assert entry_cc_ops(blocks, indirect_landings(blocks))[HEAD] == {DEC32}   # the way back only
    assert versions(blocks) == {HEAD: (None, DEC32)}        # from outside (unknown), and back
    text, _ = lower_region(blocks, "rg_test")
    assert f"b_{HEAD:x}_entry:" in text and f"b_{HEAD:x}_{DEC32:x}:" in text
    assert text.count("call i64 @dbt_cc_all") == 1         # on the way in only, not in the loop
    unknown = decrement_loop(back_cc_op=None)
    assert versions(unknown) == {HEAD: (None,)}
    assert f"b_{HEAD:x}_entry:" not in lower_region(unknown, "rg_test")[0]


def memcpy_inside(before_cc_op: int):
    """musl's memcpy tail inside its caller's region: HEAD sets `before_cc_op` and goes to
    TAIL, `dec edx; jnz TAIL` (decrement_loop's block), which leaves for AFTER."""
    head, b = new_block(HEAD)
    b.put("cc_op", b.const(Ty.I64, before_cc_op))
    b.put("cc_dst", b.get("rdx", Ty.I64))
    b.goto(TAIL)
    return [head, *decrement_loop(pc=TAIL)]


def test_a_block_entered_with_a_few_known_cc_ops_is_lowered_once_for_each():
    logic32 = cc_op_value(CCKind.LOGIC, Ty.I32)
    blocks = memcpy_inside(logic32)
    assert versions(blocks) == {HEAD: (None,), TAIL: tuple(sorted((logic32, DEC32)))}
    text, _ = lower_region(blocks, "rg_test")
    assert f"b_{TAIL:x}_{logic32:x}:" in text and f"b_{TAIL:x}_{DEC32:x}:" in text
    assert "call i64 @dbt_cc_all" not in text               # neither way in, nor the loop
    same = memcpy_inside(DEC32)                             # one cc_op: one version, as before
    assert versions(same)[TAIL] == (DEC32,)
    assert f"b_{TAIL:x}:" in lower_region(same, "rg_test")[0]


def early_exit_region():
    """A small function's region: HEAD leaves at once when rdi is zero (nothing written yet),
    else writes rbx and goes to TAIL, which leaves when rbx is one, else writes rcx and leaves."""
    head, b = new_block(HEAD)
    b.exit_if(b.eq(b.get("rdi", Ty.I64), b.const(Ty.I64, 0)), AFTER, retired=1)
    b.put("rbx", b.get("rdi", Ty.I64))
    b.goto(TAIL)
    tail, b = new_block(TAIL)
    b.exit_if(b.eq(b.get("rbx", Ty.I64), b.const(Ty.I64, 1)), AFTER, retired=1)
    b.put("rcx", b.get("rbx", Ty.I64))
    b.goto(AFTER)
    return [head, tail]


def labelled(text: str) -> dict[str, str]:
    """The function's basic blocks: label -> its lines."""
    blocks, label = {}, None
    for line in text.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            label = line[:-1]
            blocks[label] = ""
        elif label is not None:
            blocks[label] += line + "\n"
    return blocks


def test_an_exit_writes_back_only_what_a_way_to_it_may_have_written():
    blocks = early_exit_region()
    assert slots_written_before(blocks, indirect_landings(blocks)) == {HEAD: frozenset(), TAIL: {"rbx"}}
    code = labelled(lower_region(blocks, "rg_test")[0])
    rbx, rcx = (f"getelementptr i8, ptr %cpu, i64 {SLOTS[slot][0]}\n" for slot in ("rbx", "rcx"))
    first, second = (lines for label, lines in code.items() if label.startswith("leave"))
    assert rbx not in first and rcx not in first            # HEAD's exit: nothing written yet
    assert rbx in second and rcx not in second              # TAIL's: rbx only
    assert rbx in code["flush"] and rcx in code["flush"]    # the last exit may have written both
