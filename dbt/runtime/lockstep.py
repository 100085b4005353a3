"""`dbt run --check`: the interpreter and the JIT run the guest in lockstep, block by block.

Each block runs interpreted first, its stores logged with the bytes they replaced; those
are put back, the CPU state restored, and the block runs again as native code that never
chains. Both must agree on the exit, on every architectural register (RFLAGS materialised
from the lazy flags, never cc_op itself) and on the bytes of each page the interpreter
stored to (and of the stack pointer's page). Only then is the exit served, once, by the
machine's services. Each engine decodes and lifts the guest itself: they share nothing
but the guest state. On the first difference, the block is replayed from its start one
instruction at a time, and the first instruction whose effects differ is reported
(EngineDivergence). A JIT store to a page outside those compared goes unseen.
"""
import ctypes
from dataclasses import dataclass

from dbt.api import make_engine, rflags_of
from dbt.backend.interp import Interpreter
from dbt.frontend.x86.translate import Translator
from dbt.ir.exits import ExitReason, Vector
from dbt.runtime.cpu import AF, CF, DF, IF, OF, PF, SF, TF, ZF, CPUState
from dbt.runtime.executor import Stop
from dbt.runtime.memory import PAGE_SHIFT, PAGE_SIZE, GuestFault
from dbt.runtime.tb import TBCache

# Fields that are not architectural state (lazy-flag internals, runtime bookkeeping), or
# that are compared another way (df and eflags inside rflags; xmm and st as registers).
UNCOMPARED = {"cc_op", "cc_dst", "cc_src", "cc_src2", "df", "eflags", "xmm", "fpu_pad", "st",
              "exit_reason", "exit_request", "budget", "limit", "chain_count", "jc_hits", "jc_misses",
              "mem_base", "mem_perms", "mem_pages", "jmp_cache"}
COMPARED = tuple(name for name, _ in CPUState._fields_ if name not in UNCOMPARED)
FLAG_NAMES = {"CF": CF, "PF": PF, "AF": AF, "ZF": ZF, "SF": SF, "TF": TF, "IF": IF, "DF": DF, "OF": OF}
# Byte ranges of CPUState that hold everything compared (and little else): the guest state
# up to the exit fields, the fault's vector, error and address, icount and tsc_offset.
FAST_FIELDS = tuple((getattr(CPUState, first).offset, getattr(CPUState, last).offset)
                    for first, last in (("rax", "exit_reason"), ("exit_vector", "exit_request"),
                                        ("icount", "budget"), ("tsc_offset", "chain_count")))
ST_BYTES = 10               # an x87 register's 80 bits (its 16-byte slot is padded)
GAP = 8                     # differing byte runs closer than this are reported as one range


class EngineDivergence(Exception):
    """The engines' effects differ; str() is the report (a headline and one line per difference)."""


class StoreLog(Interpreter):
    """The interpreter, noting each store as (address, the bytes it replaced)."""

    def __init__(self, cpu, mem):
        super().__init__(cpu, mem)
        self.stores: list[tuple[int, bytes]] = []

    def _store(self, addr: int, size: int, value: int) -> None:
        old = self.mem.peek(addr, size) if 0 <= addr <= self.mem.size - size else b""
        super()._store(addr, size, value)        # a refused store raises: nothing to undo
        self.stores.append((addr, old))

    def undo(self) -> None:
        for addr, old in reversed(self.stores):
            self.mem.poke(addr, old)
        self.stores.clear()


class Unchained:
    """An engine whose blocks never chain and never enter the jump cache: one execute, one block."""

    def __init__(self, engine):
        self.engine, self.name = engine, engine.name

    def __getattr__(self, name):       # compile, execute, load, host_assembly
        return getattr(self.engine, name)

    def link(self, slot, code) -> None:
        pass

    def jc_set(self, pc, code) -> None:
        pass

    def jc_clear(self, pc) -> None:
        pass


@dataclass
class Outcome:
    """What one engine made of a block: its exit, the CPUState's bytes, the compared pages."""
    reason: ExitReason
    state: bytes
    pages: dict[int, bytes]

    def registers(self) -> dict[str, int]:
        return registers(CPUState.from_buffer_copy(self.state))

    def fast_key(self) -> bytes:
        """The state's bytes that decide it, when they are equal (the slow way finds the rest)."""
        return b"".join(self.state[start:end] for start, end in FAST_FIELDS)


@dataclass
class Trial:
    """One block run by both engines from the same state (`before`, `memory`)."""
    before: bytes                  # the CPUState's bytes
    memory: dict[int, bytes]       # the compared pages, before the block
    interp: Outcome
    jit: Outcome

    def differences(self) -> list[str]:
        a, b = self.interp, self.jit
        lines = [] if a.reason == b.reason else [f"exit: interp {a.reason.name}, jit {b.reason.name}"]
        if a.fast_key() != b.fast_key():
            theirs = b.registers()
            for name, value in a.registers().items():
                other = theirs[name]
                if value != other:
                    lines.append(f"{name}: interp {value:#x}, jit {other:#x}{flag_note(name, value ^ other)}")
        for page, data in sorted(a.pages.items()):
            other = b.pages[page]
            if data == other:
                continue
            for start, end in differing_ranges(data, other):
                addr = (page << PAGE_SHIFT) + start
                where = f"{addr:#x}" if end - start == 1 else f"{addr:#x}..{addr + end - start - 1:#x}"
                lines.append(f"memory {where}: interp {data[start:end].hex(' ')}, jit {other[start:end].hex(' ')}")
        return lines


def flag_note(name: str, changed: int) -> str:
    if name != "rflags":
        return ""
    return f" ({' '.join(flag for flag, bit in FLAG_NAMES.items() if changed & bit) or 'other bits'} differ)"


def differing_ranges(a: bytes, b: bytes) -> list[tuple[int, int]]:
    """[start, end) runs where a and b differ; runs fewer than GAP bytes apart are merged."""
    ranges: list[list[int]] = []
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            if ranges and i - ranges[-1][1] < GAP:
                ranges[-1][1] = i + 1
            else:
                ranges.append([i, i + 1])
    return [(start, end) for start, end in ranges]


def registers(cpu) -> dict[str, int]:
    """The architectural state of a CPUState, by name."""
    values = {name: getattr(cpu, name) for name in COMPARED}
    values["rflags"] = rflags_of(cpu)
    for i in range(16):
        values[f"xmm{i}"] = cpu.xmm[2 * i] | cpu.xmm[2 * i + 1] << 64
    for i in range(8):
        values[f"st{i}"] = int.from_bytes(bytes(cpu.st[16 * i:16 * i + ST_BYTES]), "little")
    return values


class Side:
    """One engine's own translation of the guest: a block cache over its own translator."""

    def __init__(self, engine, run, emu, trace=None):
        translator = Translator(emu.mem.fetch_code, emu.translator.system)
        translator.stops = emu.translator.stops            # the run's stop points, shared
        self.tbs = TBCache(translator, engine, emu.mem, emu.stats, trace)
        self.run = run                                     # code -> ExitReason

    def forget(self) -> None:
        for tb in list(self.tbs.blocks.values()):
            self.tbs.remove(tb)


class Lockstep:
    """Drives an Emulator's runs (as its executor's debugger) with both engines in lockstep."""

    def __init__(self, emu, opt: int = 0):
        self.emu, self.cpu, self.mem = emu, emu.cpu, emu.mem
        self.log = StoreLog(emu.cpu, emu.mem)
        jit = Unchained(make_engine("jit", emu.cpu, emu.mem, opt, regions="off"))   # block by block
        self.interp = Side(make_engine("interp", emu.cpu, emu.mem), self.log.run, emu)
        self.jit = Side(jit, jit.execute, emu, emu.tbs.trace)
        self.sides = (self.interp, self.jit)
        self.known_stops = None
        self.mem.on_code_write = self.invalidate_page
        emu.executor.debugger = self

    def invalidate_page(self, page: int) -> None:
        for side in self.sides:
            side.tbs.invalidate_page(page)

    # -- the executor's hooks ---------------------------------------------------------
    def run(self, executor) -> Stop:
        stops = self.emu.translator.stops.snapshot()
        if stops != self.known_stops:            # blocks must end at the new stop points
            for side in self.sides:
                side.forget()
            self.known_stops = stops
        while True:
            pc = self.cpu.rip
            try:
                blocks = [side.tbs.lookup(pc) for side in self.sides]
            except GuestFault as fault:          # the pc (or the rest of its instruction) is not executable
                stop = executor.deliver(GuestFault(Vector.PF, fault.addr, False, pc))
            else:
                stop = self.step(executor, blocks)
            if stop is not None:
                return stop

    def code_write(self, executor) -> Stop | None:
        """A store hit a page of translated code: drop its blocks, then run that instruction."""
        addr = self.cpu.exit_addr
        self.mem.invalidate_code(addr >> PAGE_SHIFT, (addr + 15) >> PAGE_SHIFT)
        return self.step(executor, [side.tbs.build(self.cpu.rip, 1) for side in self.sides])

    # -- lockstep ------------------------------------------------------------------------
    def step(self, executor, blocks) -> Stop | None:
        """Run one block (a TranslationBlock per side) under both engines, then serve its exit."""
        self.emu.stats.count("check_blocks")
        trial = self.trial(blocks[0].code, blocks[1].code)
        reason = trial.jit.reason
        if reason == ExitReason.INTERRUPT:       # at block entry, before any effect
            return executor.handle(reason)
        if trial.differences():
            raise self.locate(trial, blocks[0].pc, max(tb.ninsns for tb in blocks))
        if reason == ExitReason.MISS:
            return None
        if reason == ExitReason.BUDGET:
            return self.budget_tail(executor)
        return executor.handle(reason)

    def budget_tail(self, executor) -> Stop | None:
        """Fewer instructions are left in the budget than the block holds: run just those."""
        left = self.cpu.budget - self.cpu.icount
        if left <= 0:
            return executor.services.budget(executor)
        return self.step(executor, [side.tbs.build(self.cpu.rip, left) for side in self.sides])

    def trial(self, interp_code, jit_code) -> Trial:
        """Run the block interpreted, undo it, run it native; the state is left as the JIT's."""
        cpu, mem = self.cpu, self.mem
        before = self.state()
        sp = cpu.rsp
        reason = self.interp.run(interp_code)
        pages = {addr >> PAGE_SHIFT for addr, _ in self.log.stores}
        pages |= {p >> PAGE_SHIFT for p in (sp - 8, sp) if mem.is_mapped(p)}
        interp = Outcome(reason, self.state(), self.pages(pages))
        self.log.undo()
        ctypes.memmove(ctypes.addressof(cpu), before, len(before))
        memory = self.pages(pages)
        if reason != ExitReason.INTERRUPT:
            reason = self.jit.run(jit_code)
            if reason == ExitReason.FAULT and cpu.exit_vector == Vector.ACCESS_GROUP:
                reason = self.emu.executor.interpret()      # the rest of the block, as the executor does
        return Trial(before, memory, interp, Outcome(reason, self.state(), self.pages(pages)))

    def state(self) -> bytes:
        return ctypes.string_at(ctypes.addressof(self.cpu), ctypes.sizeof(self.cpu))

    def pages(self, pages) -> dict[int, bytes]:
        return {page: self.mem.peek(page << PAGE_SHIFT, PAGE_SIZE) for page in pages}

    def restore(self, trial: Trial) -> None:
        ctypes.memmove(ctypes.addressof(self.cpu), trial.before, len(trial.before))
        for page, data in trial.memory.items():
            self.mem.poke(page << PAGE_SHIFT, data)

    # -- the report ------------------------------------------------------------------------
    def locate(self, trial: Trial, block_pc: int, ninsns: int) -> EngineDivergence:
        """Replay the block from its start one instruction at a time; the first that differs."""
        self.restore(trial)
        start_icount = self.cpu.icount
        for _ in range(max(ninsns, 1)):
            pc, icount = self.cpu.rip, self.cpu.icount
            try:
                step = self.trial(*(side.tbs.build(pc, 1).code for side in self.sides))
            except GuestFault:
                break
            lines = step.differences()
            if lines:
                return self.report(f"at pc {pc:#x} ({self.describe(pc)}), after {icount} instructions", lines)
            if step.jit.reason != ExitReason.MISS:
                break
        return self.report(f"in the block at pc {block_pc:#x} ({ninsns} instructions, after {start_icount} "
                           "instructions), though no single instruction of it does", trial.differences())

    @staticmethod
    def report(where: str, lines: list[str]) -> EngineDivergence:
        return EngineDivergence("\n".join([f"dbt: --check: the engines differ {where}:",
                                           *(f"  {line}" for line in lines)]))

    def describe(self, pc: int) -> str:
        """'bytes: mnemonic operands' of the guest instruction at pc."""
        insn = self.interp.tbs.translator.decode_one(pc)
        if insn is None:
            return f"{self.mem.peek(pc, 4).hex(' ')}: not a valid instruction"
        return f"{bytes(insn.bytes).hex(' ')}: {insn.mnemonic} {insn.op_str}".strip()
