"""The block translator: decode guest instructions one by one and lift each into IR.

A block ends at a control transfer, at an instruction that needs the runtime,
at a page boundary, or at MAX_BLOCK_INSNS. An instruction that cannot be
decoded or lifted ends the block before it; if it is the block's first
instruction the block raises #UD (the runtime reports it with the bytes), unless it
is cut short by a page it cannot be fetched from: then fetching it faults.
Capstone and the lifters load on the first decode (`lifting`): importing them costs
20-30 ms, which a run the code cache serves entirely never pays.
"""
import functools
import time

from dbt.frontend.stops import StopPoints
from dbt.ir.builder import new_block
from dbt.ir.exits import ExitReason, Vector
from dbt.ir.ops import Block

MAX_BLOCK_INSNS = 64
DECODE_CHUNK = 8
PAGE_SIZE = 4096


@functools.cache
def lifting():
    """(LiftContext, UnsupportedInstruction, LIFTERS, new_decoder), imported on first use."""
    from dbt.frontend.x86.context import LiftContext, UnsupportedInstruction
    from dbt.frontend.x86.decode import new_decoder
    from dbt.frontend.x86.lifters import LIFTERS
    return LiftContext, UnsupportedInstruction, LIFTERS, new_decoder


class Translator:
    """Turns guest code into IR blocks. `fetch(pc)` returns the executable bytes from pc on."""

    def __init__(self, fetch, system: bool = False):
        self.fetch = fetch
        self.system = system
        self._cs = None                  # the capstone decoder, made on first use
        self.stops = StopPoints()        # where blocks must end or exit first (stops.py)
        self.decode_seconds = 0.0        # time spent in capstone (for --stats)

    @property
    def cs(self):
        if self._cs is None:
            self._cs = lifting()[3]()
        return self._cs

    @staticmethod
    def stop_block(pc: int) -> Block:
        """A block that retires nothing and exits with STOP: placed at stop addresses."""
        block, b = new_block(pc)
        b.exit(ExitReason.STOP, pc)
        block.size = 1
        return block

    def decode_one(self, pc: int):
        """The instruction at pc, or None when the bytes are not a valid instruction."""
        return next(self.cs.disasm(self.fetch(pc)[:15], pc, 1), None)

    def fetch_rest(self, pc: int) -> None:
        """When the instruction at pc runs past its last fetchable byte (into a page that is not
        executable, or off the guest space), fetch that byte: the fetch raises the runtime's
        fault for it, as the CPU faults on the page it cannot fetch from rather than raise #UD."""
        code = self.fetch(pc)[:15]
        if len(code) < 15:
            padded = next(self.cs.disasm(code + bytes(15 - len(code)), pc, 1), None)
            if padded is not None and padded.size > len(code):
                self.fetch(pc + len(code))

    def diagnose(self, pc: int):
        """(instruction at pc or None, why dbt cannot lift it or None) for fault reports."""
        insn = self.decode_one(pc)
        if insn is None:
            return None, None
        LiftContext, UnsupportedInstruction, LIFTERS, _ = lifting()
        lifter = LIFTERS.get(insn.id)
        if lifter is None:
            return insn, "no lifter for this instruction"
        _, b = new_block(pc)
        ctx = LiftContext(b, self.system)
        ctx.start(insn, 0)
        try:
            lifter(ctx, insn)
        except UnsupportedInstruction as e:
            return insn, e.why or "not supported"
        return insn, None

    def decode(self, pc: int, count: int):
        """The instructions from pc on, at most count, decoded DECODE_CHUNK at a time:
        capstone decodes all it is asked for at once, and most blocks are short. Its Python
        object for an instruction is made when taken, so the block's end leaves the rest of
        the chunk unmade (half the instructions decoded at start-up: ~20 ms of 0.5 s)."""
        data, offset = self.fetch(pc), 0
        while count > 0:
            want, got, last = min(count, DECODE_CHUNK), 0, None
            chunk = self.cs.disasm(data[offset:], pc + offset, want)
            try:
                while got < want:
                    t0 = time.perf_counter()
                    insn = next(chunk, None)
                    self.decode_seconds += time.perf_counter() - t0
                    if insn is None:
                        return
                    got, last = got + 1, insn
                    yield insn
            finally:
                chunk.close()                  # capstone frees the chunk's instructions
            count -= want
            offset = last.address + last.size - pc

    def translate(self, pc: int, max_insns: int = MAX_BLOCK_INSNS) -> Block:
        LiftContext, UnsupportedInstruction, LIFTERS, _ = lifting()
        block, b = new_block(pc)
        ctx = LiftContext(b, self.system)
        page_end = (pc & ~(PAGE_SIZE - 1)) + PAGE_SIZE
        next_pc = pc
        for insn in self.decode(pc, max_insns + 1):
            if block.ninsns >= max_insns or insn.address >= page_end or (
                    block.ninsns and insn.address in self.stops):
                break
            mark = len(block.ops)
            b.insn_start(insn.address, block.ninsns)
            ctx.start(insn, block.ninsns)
            lifter = LIFTERS.get(insn.id)
            try:
                if lifter is None:
                    raise ctx.unsupported()
                lifter(ctx, insn)
            except UnsupportedInstruction:
                del block.ops[mark:]
                break
            block.ninsns += 1
            next_pc = insn.address + insn.size
            if ctx.ended:
                break
        if not ctx.ended:
            if block.ninsns == 0:        # the first instruction is invalid, unsupported or cut short
                self.fetch_rest(pc)
                b.insn_start(pc, 0)
                ctx.pc = pc
                ctx.fault(Vector.UD)
            else:
                b.goto(next_pc)
        block.size = max(next_pc - pc, 1)
        return block
