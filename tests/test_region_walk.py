"""The region walk (dbt/runtime/regions.py) on made-up blocks: which blocks a hot loop's region
takes in when a block ends in an indirect call whose target the first tier recorded."""
from dataclasses import dataclass, field

from dbt.runtime.regions import Exits, select_region, small_leaf, with_recorded_target

HEAD, CALL, RETURN_SITE, CALLEE = 0x1000, 0x1010, 0x1020, 0x5000


@dataclass
class FakeTB:
    pc: int
    ninsns: int = 3
    members: tuple = ()
    code: object = field(default_factory=object)


def loop_calling(call: Exits, callee_blocks: int) -> dict[int, Exits]:
    """The Exits of a loop HEAD -> CALL (`call`, returning to RETURN_SITE) -> HEAD, whose
    callee is a chain of `callee_blocks` blocks ending in a ret."""
    exits = {HEAD: Exits(HEAD, (CALL,), None, None, False), CALL: call,
             RETURN_SITE: Exits(RETURN_SITE, (HEAD,), None, None, False)}
    for i in range(callee_blocks):
        pc = CALLEE + 0x10 * i
        last = i == callee_blocks - 1
        exits[pc] = Exits(pc, () if last else (pc + 0x10,), None, None, last)
    return exits


def walk(callee_blocks: int, recorded: int | None = CALLEE) -> list[int]:
    """The region of the loop of loop_calling with an indirect call."""
    exits = loop_calling(with_recorded_target(Exits(CALL, (), RETURN_SITE, None, False, indirect=True), recorded),
                         callee_blocks)
    blocks = {pc: FakeTB(pc) for pc in exits}
    region = select_region(blocks[HEAD], blocks, lambda tb: False, lambda code: True, lambda tb: exits[tb.pc])
    return [tb.pc for tb in region]


def walk_to_a_region_head(callee_blocks: int, callee_insns: int = 3) -> list:
    """The region of the loop of loop_calling with a direct call of a callee that heads a
    region of its own (its blocks `callee_insns` instructions each)."""
    exits = loop_calling(Exits(CALL, (CALLEE,), RETURN_SITE, CALLEE, False), callee_blocks)
    blocks = {pc: FakeTB(pc, callee_insns if pc >= CALLEE else 3) for pc in exits}
    blocks[CALLEE] = FakeTB(CALLEE, callee_insns, members=(blocks[CALLEE], blocks[CALLEE + 0x10]))
    return select_region(blocks[HEAD], blocks, lambda tb: False, lambda code: True, lambda tb: exits[tb.pc])


def test_a_small_recorded_callee_joins_with_the_calls_return_site():
    assert walk(3) == [HEAD, CALL, CALLEE, RETURN_SITE, CALLEE + 0x10, CALLEE + 0x20]


def test_a_big_recorded_callee_stays_out_and_so_does_the_return_site():
    assert walk(5) == [HEAD, CALL]


def test_without_a_recorded_target_the_region_ends_at_the_call():
    assert walk(3, recorded=None) == [HEAD, CALL]


def test_small_leaf_needs_a_ret_and_no_call():
    blocks = {pc: FakeTB(pc) for pc in (CALLEE, CALLEE + 0x10)}
    looping = {CALLEE: Exits(CALLEE, (CALLEE + 0x10,), None, None, False),
               CALLEE + 0x10: Exits(CALLEE + 0x10, (CALLEE,), None, None, False)}
    calling = {CALLEE: Exits(CALLEE, (), CALLEE + 0x10, 0x9000, False),
               CALLEE + 0x10: Exits(CALLEE + 0x10, (), None, None, True)}
    assert not small_leaf(CALLEE, blocks, lambda tb: looping[tb.pc])
    assert not small_leaf(CALLEE, blocks, lambda tb: calling[tb.pc])


def test_a_small_leaf_heading_its_own_region_joins_whole_with_the_return_site():
    region = walk_to_a_region_head(3)
    assert [tb.pc for tb in region] == [HEAD, CALL, CALLEE, CALLEE + 0x10, CALLEE + 0x20, RETURN_SITE]
    assert not region[2].members                 # its first-tier block, not its region


def test_a_region_head_too_big_for_a_leaf_or_for_the_region_stays_out_whole():
    assert [tb.pc for tb in walk_to_a_region_head(9)] == [HEAD, CALL]
    assert [tb.pc for tb in walk_to_a_region_head(3, callee_insns=60)] == [HEAD, CALL]
