"""Oracle tests of the string instructions: movs stos lods cmps scas, plain and rep/repe/repne.

Every form runs at each width (b/w/d/q) in both directions (DF clear, and DF
set through the input RFLAGS or `std`), on buffers inside the data region.
rep forms run with rcx = 0, 1 and 17; repe/repne stop early and run out.
A few dbt-only tests pin the block structure (a rep instruction is a block
of its own) and the retired-instruction count (one per iteration).
"""
from __future__ import annotations

import random

import pytest
from capstone import x86_const as X

from dbt.api import Emulator
from dbt.frontend.x86 import sem_string
from dbt.frontend.x86.context import LiftContext, UnsupportedInstruction
from dbt.frontend.x86.decode import new_decoder
from dbt.frontend.x86.lifters import LIFTERS
from dbt.frontend.x86.translate import Translator
from dbt.ir.builder import new_block

from .harness import check, default_data
from .native import CODE_ADDR, DATA_ADDR, DATA_SIZE, assemble
from .undefined_flags import CF, DF, OF, PF, SF, ZF

WIDTHS = {"b": 1, "w": 2, "d": 4, "q": 8}
SRC, DST = DATA_ADDR + 0x1000, DATA_ADDR + 0x3000
SPAN = 0x200        # with DF set, pointers start SPAN bytes into their buffer and go down
ENGINES = ("jit", "interp")


def text(kind: str, w: str, prefix: str = "") -> str:
    """Assembly for one string instruction (keystone lacks the bare `movsd`)."""
    name = f"{prefix} {kind}{w}".strip()
    if kind == "movs" and w == "d":
        name = f"{prefix} movs dword ptr [rdi], dword ptr [rsi]".strip()
    return name


def pointers(df: int) -> dict[str, int]:
    return {"rsi": SRC + SPAN * df, "rdi": DST + SPAN * df}


def mask(size: int) -> int:
    return (1 << (8 * size)) - 1


def with_values(pairs: list[tuple[int, int]], size: int, df: int) -> bytes:
    """Data with element i of `pairs` at the i-th source/destination slot in direction df."""
    data = bytearray(default_data())
    step = -size if df else size
    for i, (a, b) in enumerate(pairs):
        for base, value in ((SRC, a), (DST, b)):
            off = base - DATA_ADDR + SPAN * df + i * step
            data[off:off + size] = (value & mask(size)).to_bytes(size, "little")
    return bytes(data)


def edge_pairs(size: int) -> list[tuple[int, int]]:
    bits = 8 * size
    top, smin, ones = (1 << (bits - 1)) - 1, 1 << (bits - 1), mask(size)
    rng = random.Random(size)
    return [(0, 0), (0, 1), (1, 0), (smin, 1), (top, ones), (top, smin), (smin, top),
            (ones, ones), (ones, 0), (0x7F, 0x80), (0x80, 0x7F),
            (rng.getrandbits(bits), rng.getrandbits(bits)),
            (rng.getrandbits(bits), rng.getrandbits(bits))]


# -- plain (non-rep) forms ----------------------------------------------------
@pytest.mark.parametrize("df", [0, 1])
@pytest.mark.parametrize("w", WIDTHS)
@pytest.mark.parametrize("kind", ["movs", "stos", "lods", "cmps", "scas"])
def test_plain_three_steps(kind, w, df):
    insn = text(kind, w)
    check(f"{insn}; {insn}; {insn}", regs=pointers(df), rflags=0x2 | (DF if df else 0))


@pytest.mark.parametrize("w", WIDTHS)
@pytest.mark.parametrize("kind", ["cmps", "scas"])
def test_compare_edge_values(kind, w):
    size = WIDTHS[w]
    for a, b in edge_pairs(size):
        check(text(kind, w), regs=pointers(0) | {"rax": 0x5A5A5A5A5A5A5A5A & ~mask(size) | a},
              data=with_values([(a, b)], size, 0))


@pytest.mark.parametrize("w", WIDTHS)
def test_lods_merges_into_rax(w):
    """lodsb/lodsw keep rax's upper bits, lodsd clears them, lodsq replaces rax."""
    check(text("lods", w), regs=pointers(0) | {"rax": 0xFFFFFFFFFFFFFFFF})


def test_plain_forms_in_one_block():
    """Non-rep string ops are straight-line code: several in one block, then a jcc on cmps."""
    check("movsb; stosw; lodsq; cmpsb; jne skip; inc r8; skip: scasd; sete r9b",
          regs=pointers(0), data=with_values([(7, 7)], 1, 0))


def test_fs_segment_override():
    """movsb's source honours fs: (its destination is always es, base 0). dbt-only: the
    native side cannot set fs_base; the expected bytes are computed here by hand."""
    code = assemble("movsb byte ptr es:[rdi], byte ptr fs:[rsi]")
    for engine in ENGINES:
        emu = _emulator(engine, code)
        emu.reg_write("fs_base", 0x100)
        emu.reg_write("rsi", SRC - 0x100)
        emu.reg_write("rdi", DST)
        emu.write(SRC, b"\x42")
        assert emu.run(start=CODE_ADDR, until=CODE_ADDR + len(code)).reason == "until"
        assert emu.read(DST, 1) == b"\x42", engine
        assert (emu.reg_read("rsi"), emu.reg_read("rdi")) == (SRC - 0xFF, DST + 1), engine


# -- rep movs / stos / lods ---------------------------------------------------
@pytest.mark.parametrize("df", [0, 1])
@pytest.mark.parametrize("w", WIDTHS)
@pytest.mark.parametrize("kind", ["movs", "stos", "lods"])
def test_rep_counts_0_1_17(kind, w, df):
    insn = text(kind, w, "rep")
    check(f"mov ecx, 0; {insn}; mov r8, rcx; mov r10, rax; mov ecx, 1; {insn}; mov r9, rcx; "
          f"mov r11, rax; mov ecx, 17; {insn}",
          regs=pointers(df) | {"rax": 0x0123456789ABCDEF}, rflags=0x2 | (DF if df else 0))


@pytest.mark.parametrize("w", WIDTHS)
@pytest.mark.parametrize("kind", ["movs", "stos", "lods"])
def test_std_rep_cld(kind, w):
    """DF set and cleared by the sequence itself (needs the std/cld lifters)."""
    insn = text(kind, w, "rep")
    check(f"mov ecx, 5; std; {insn}; cld; mov ecx, 3; {insn}", regs=pointers(1))


@pytest.mark.parametrize("prefix, kind", [("rep", "movs"), ("rep", "stos"), ("rep", "lods"),
                                          ("repe", "cmps"), ("repne", "cmps"),
                                          ("repe", "scas"), ("repne", "scas")])
def test_rep_zero_count_touches_nothing(prefix, kind):
    """With rcx == 0 nothing is read or written: rsi/rdi may point at unmapped memory,
    and the flags of an earlier add survive (also for repe/repne)."""
    insn = text(kind, "q", prefix)
    check(f"add rax, rbx; {insn}", regs={"rsi": 0x1000, "rdi": 0x2008, "rcx": 0,
                                         "rax": 0x7FFFFFFFFFFFFFFF, "rbx": 1})
    check(insn, regs={"rsi": 0x1000, "rdi": 0x2008, "rcx": 0},
          rflags=0x2 | CF | PF | ZF | SF | OF | DF)


def test_rep_zero_count_touches_no_memory():
    """rcx == 0 leaves at once: rsi, rdi and even rsp may point at unmapped memory."""
    check("rep stosq", regs={"rsi": 0x1000, "rdi": 0x2008, "rcx": 0, "rsp": 0x8})


@pytest.mark.parametrize("df", [0, 1])
def test_rep_movsb_overlapping(df):
    """Overlapping copies go element by element: forward replicates, backward too."""
    start = DATA_ADDR + 0x1000 + SPAN * df
    check("mov ecx, 40; rep movsb", regs={"rsi": start, "rdi": start + (-3 if df else 3)},
          rflags=0x2 | (DF if df else 0))


def test_repne_movsb_acts_as_rep():
    """F2 on movs/stos/lods repeats like F3 (what the host CPU does)."""
    check(bytes.fromhex("b905000000" "f2a4" "f248ab" "f2ac"), regs=pointers(0))


# -- repe / repne cmps / scas ---------------------------------------------------
def _compare_case(kind, w, df, prefix, pairs, count):
    size = WIDTHS[w]
    regs = pointers(df) | {"rcx": count, "rax": 0}
    if kind == "scas":          # scas compares the accumulator with every [rdi]
        pairs = [(pairs[0][0], b) for _a, b in pairs]
        regs["rax"] = pairs[0][0] & mask(size)
    check(f"{text(kind, w, prefix)}; setne r8b; setb r9b; setl r10b",
          regs=regs, rflags=0x2 | (DF if df else 0), data=with_values(pairs, size, df))


@pytest.mark.parametrize("df", [0, 1])
@pytest.mark.parametrize("w", WIDTHS)
@pytest.mark.parametrize("kind", ["cmps", "scas"])
def test_repe_runs_out(kind, w, df):
    same = [(0x5C, 0x5C)] * 17
    _compare_case(kind, w, df, "repe", same, 17)
    _compare_case(kind, w, df, "repe", same, 1)


@pytest.mark.parametrize("df", [0, 1])
@pytest.mark.parametrize("w", WIDTHS)
@pytest.mark.parametrize("kind", ["cmps", "scas"])
def test_repe_stops_on_mismatch(kind, w, df):
    pairs = [(0x5C, 0x5C)] * 5 + [(0x5C, -3)] + [(0x5C, 0x5C)] * 11
    _compare_case(kind, w, df, "repe", pairs, 17)
    _compare_case(kind, w, df, "repz", pairs[5:], 17)        # mismatch on the first element


@pytest.mark.parametrize("df", [0, 1])
@pytest.mark.parametrize("w", WIDTHS)
@pytest.mark.parametrize("kind", ["cmps", "scas"])
def test_repne_runs_out(kind, w, df):
    differ = [(0x5C, 0x5C + 1 + i) for i in range(17)]
    _compare_case(kind, w, df, "repne", differ, 17)
    _compare_case(kind, w, df, "repne", differ, 1)


@pytest.mark.parametrize("df", [0, 1])
@pytest.mark.parametrize("w", WIDTHS)
@pytest.mark.parametrize("kind", ["cmps", "scas"])
def test_repne_stops_on_match(kind, w, df):
    pairs = [(0x5C, 0x60 + i) for i in range(7)] + [(0x5C, 0x5C)] + [(0x5C, 1)] * 9
    _compare_case(kind, w, df, "repne", pairs, 17)
    _compare_case(kind, w, df, "repnz", pairs[7:], 17)       # match on the first element


def test_repne_scasb_strlen():
    """The classic strlen idiom: rcx = -1; repne scasb; not rcx; dec rcx."""
    data = bytearray(default_data())
    data[SRC - DATA_ADDR + 300] = 0
    check("xor eax, eax; mov rcx, -1; repne scasb; not rcx; dec rcx",
          regs={"rdi": SRC}, data=bytes(data))


# -- address size 32 (0x67) ----------------------------------------------------
@pytest.mark.parametrize("code", ["67a4", "6766a5", "67f3a5", "67f348ab", "67f3ac",
                                  "67f3a6", "67f2ae", "6748a7"])
def test_address_size_32(code):
    """esi/edi/ecx are used and written (zero-extending); the upper halves are ignored."""
    regs = {"rsi": 0xAB00000000 | SRC, "rdi": 0xCD00000000 | DST, "rcx": 0xEF00000011,
            "rax": 0x5C5C5C5C5C5C5C5C}
    check(bytes.fromhex(code), regs=regs)
    check(bytes.fromhex(code), regs=regs, rflags=0x2 | DF)


def test_address_size_32_zero_count():
    """ecx == 0 with clean upper halves (this Intel host zero-extends some of rsi/rdi/rcx
    even then, model-specifically; dbt changes nothing, as the SDM pseudo-code does)."""
    for code in ("67f3a4", "67f3ab", "67f3a6", "67f2af"):
        check(bytes.fromhex(code), regs={"rsi": SRC, "rdi": DST, "rcx": 0})


# -- big copy, retired-instruction count, budget ------------------------------
def test_rep_movsb_16k():
    check("mov ecx, 0x4000; rep movsb", regs={"rsi": DATA_ADDR, "rdi": DATA_ADDR + 0x8000})


def test_rep_movsq_16k_backward():
    check("mov ecx, 0x800; rep movsq",
          regs={"rsi": DATA_ADDR + 0x3FF8, "rdi": DATA_ADDR + 0xBFF8}, rflags=0x2 | DF)


def _emulator(engine: str, code: bytes) -> Emulator:
    emu = Emulator(engine=engine)
    emu.map(CODE_ADDR, 0x1000, "rwx")
    emu.map(DATA_ADDR, DATA_SIZE, "rw")
    emu.write(CODE_ADDR, code)
    emu.reg_write("rsp", DATA_ADDR + DATA_SIZE - 0x100)
    return emu


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("count, retired", [(0x4000, 2 + 0x4000), (1, 3), (0, 3)])
def test_retired_count_is_one_per_iteration(engine, count, retired):
    """mov; rep movsb; nop retires 2 + max(rcx, 1) instructions in dbt's model."""
    code = assemble(f"mov ecx, {count}; rep movsb; nop")
    emu = _emulator(engine, code)
    emu.write(DATA_ADDR, default_data()[:0x4000])
    emu.reg_write("rsi", DATA_ADDR)
    emu.reg_write("rdi", DATA_ADDR + 0x8000)
    assert emu.run(start=CODE_ADDR, until=CODE_ADDR + len(code)).reason == "until"
    assert emu.cpu.icount == retired
    assert emu.read(DATA_ADDR + 0x8000, 0x4000) == default_data()[:count] + bytes(0x4000 - count)


@pytest.mark.parametrize("engine", ENGINES)
def test_budget_stops_between_iterations(engine):
    """An instruction budget ends the run between two iterations, with exact state; resuming
    finishes the copy (the expected values are computed by hand)."""
    code = assemble("mov ecx, 17; rep movsb")
    end = CODE_ADDR + len(code)
    emu = _emulator(engine, code)
    emu.reg_write("rsi", SRC)
    emu.reg_write("rdi", DST)
    emu.write(SRC, bytes(range(1, 18)))
    stop = emu.run(start=CODE_ADDR, until=end, max_insns=6)   # mov + 5 iterations
    assert stop.reason == "budget"
    assert emu.reg_read("rip") == CODE_ADDR + 5
    assert (emu.reg_read("rcx"), emu.reg_read("rsi"), emu.reg_read("rdi")) == (12, SRC + 5, DST + 5)
    assert emu.read(DST, 6) == bytes([1, 2, 3, 4, 5, 0])
    assert emu.run(until=end).reason == "until"
    assert emu.read(DST, 17) == bytes(range(1, 18))
    assert emu.reg_read("rcx") == 0 and emu.cpu.icount == 1 + 17


# -- translation structure -----------------------------------------------------
def _translator(code: bytes) -> Translator:
    padded = code + b"\xcc" * 16
    return Translator(lambda pc: padded[pc - CODE_ADDR:])


def test_rep_starts_its_own_block():
    code = assemble("mov ecx, 3; movsb; rep movsb; nop")
    tr = _translator(code)
    first = tr.translate(CODE_ADDR)
    assert first.ninsns == 2 and first.terminator.opcode == "goto"
    rep_pc = CODE_ADDR + 6
    assert first.terminator.attrs["target"] == rep_pc
    rep = tr.translate(rep_pc)
    assert rep.ninsns == 1 and rep.size == 2
    assert rep.terminator.opcode == "branch"
    assert rep.terminator.attrs == {"taken": rep_pc, "fallthrough": rep_pc + 2}


def test_lock_prefix_is_invalid():
    """lock movsb raises #UD on a CPU: dbt translates it to a #UD block."""
    block = _translator(bytes.fromhex("f0a4")).translate(CODE_ADDR)
    assert block.ninsns == 0
    assert [op.attrs.get("vector") for op in block.ops if op.opcode == "check"] == [6]


def test_every_string_id_is_in_the_merged_table():
    for kind in ("MOVS", "STOS", "LODS", "CMPS", "SCAS"):
        for suffix in "BWDQ":
            insn_id = getattr(X, f"X86_INS_{kind}{suffix}")
            assert LIFTERS[insn_id] is sem_string.LIFTERS[insn_id]
