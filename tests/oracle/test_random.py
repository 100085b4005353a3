"""Random straight-line integer sequences, host CPU against both engines.

Hypothesis draws 1-12 instructions from the implemented integer families
(mov movabs movzx movsx movsxd lea, add adc sub sbb and or xor cmp test inc
dec neg not, setcc cmovcc, balanced push/pop, xchg, cbw..cqo) over random
registers and [rdi + disp] memory, with random register values, flags and
data. A jmp/jcc to the very next instruction sometimes splits a sequence
into blocks, so flags also reach their consumers through guest state.
rdi stays DATA_ADDR and rsp moves only through push/pop pairs that the
generator balances, so every sequence runs natively without faulting.

Each sequence is checked by the harness (jit and interp against the host).
A second test (half as many sequences, to keep the file near 45 s) runs
both engines directly and requires the same registers, flags, memory and
`cpu.icount`, which must equal the number of instructions.

DBT_ORACLE_EXAMPLES sets the number of sequences (default 1000);
DBT_ORACLE_SEED picks a seed (default: derandomized, the same sequences on
every run). No example database is kept.
"""
from __future__ import annotations

import os

import capstone
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from .harness import check, default_data
from .native import CODE_ADDR, DATA_ADDR, DATA_SIZE, GPRS, MASK64, assemble
from .strategies import CONDITIONS, PTR, edge_values, reg, run_dbt
from .undefined_flags import STATUS_FLAGS

EXAMPLES = int(os.environ.get("DBT_ORACLE_EXAMPLES", "1000"))
SEED = os.environ.get("DBT_ORACLE_SEED")


def configured(examples: int):
    """Hypothesis settings: no database, no deadline; a seed if one was given."""
    def wrap(test):
        test = settings(max_examples=examples, deadline=None, database=None,
                        derandomize=SEED is None, print_blob=False,
                        suppress_health_check=[HealthCheck.too_slow,
                                               HealthCheck.data_too_large])(test)
        return test if SEED is None else seed(int(SEED))(test)
    return wrap


# Registers a sequence may write: everything but rdi (the memory base) and rsp.
FREE = ("rax", "rcx", "rdx", "rbx", "rbp", "rsi", "r8", "r9", "r10", "r11", "r12", "r13",
        "r14", "r15")
NO_REX = ("rax", "rcx", "rdx", "rbx", "rbp", "rsi")   # usable beside ah..bh
HIGH = ("ah", "ch", "dh", "bh")
BINARY = ("add", "adc", "sub", "sbb", "and", "or", "xor", "cmp", "test")
UNARY = ("inc", "dec", "neg", "not")
MEM_SPAN = 0x100     # memory operands stay in [rdi, rdi + MEM_SPAN + 8)

widths = st.sampled_from((8, 16, 32, 64))


def mem(draw, bits: int) -> str:
    return f"{PTR[bits]} ptr [rdi + {draw(st.integers(0, MEM_SPAN - 1)):#x}]"


def reg_name(draw, bits: int, legacy: bool = False) -> str:
    """A writable register at `bits`; legacy: one that can sit beside ah..bh (no REX)."""
    if bits == 8 and legacy:
        return draw(st.sampled_from([reg(r, 8) for r in NO_REX[:4]] + list(HIGH)))
    return reg(draw(st.sampled_from(NO_REX if legacy else FREE)), bits)


def imm(draw, bits: int) -> int:
    """An immediate encodable at `bits` (imm32 sign-extended for 64), edge values likely."""
    b = min(bits, 32)
    value = draw(st.one_of(st.sampled_from(edge_values(b)), st.integers(0, (1 << b) - 1)))
    return value - (1 << b) if value >> (b - 1) else value


def operands(draw, bits: int, allow_imm: bool = True) -> tuple[str, str]:
    """(destination, source) in one of the r,r r,m m,r r,imm m,imm forms."""
    legacy = bits == 8 and draw(st.booleans())
    kind = draw(st.sampled_from(["rr", "rm", "mr", "ri", "mi"] if allow_imm else ["rr", "rm", "mr"]))
    reg_ = lambda: reg_name(draw, bits, legacy)  # noqa: E731
    if kind == "rr":
        return reg_(), reg_()
    if kind == "rm":
        return reg_(), mem(draw, bits)
    if kind == "mr":
        return mem(draw, bits), reg_()
    dst = reg_() if kind == "ri" else mem(draw, bits)
    return dst, str(imm(draw, bits))


def any_source(draw, bits: int) -> str:
    return mem(draw, bits) if draw(st.booleans()) else reg_name(draw, bits)


def gen_mov(draw) -> str:
    bits = draw(widths)
    if bits == 64 and draw(st.booleans()):
        return f"movabs {reg_name(draw, 64)}, {draw(st.integers(0, MASK64)):#x}"
    dst, src = operands(draw, bits)
    return f"mov {dst}, {src}"


def gen_extend(draw) -> str:
    op = draw(st.sampled_from(["movzx", "movsx", "movsxd"]))
    if op == "movsxd":
        src = mem(draw, 32) if draw(st.booleans()) else reg_name(draw, 32)
        return f"movsxd {reg_name(draw, 64)}, {src}"
    src_bits = draw(st.sampled_from((8, 16)))
    dst_bits = draw(st.sampled_from([b for b in (16, 32, 64) if b > src_bits]))
    if src_bits == 8 and dst_bits < 64 and draw(st.booleans()):      # legacy regs with ah..bh
        return f"{op} {reg_name(draw, dst_bits, True)}, {reg_name(draw, 8, True)}"
    src = mem(draw, src_bits) if draw(st.booleans()) else reg_name(draw, src_bits)
    return f"{op} {reg_name(draw, dst_bits)}, {src}"


def gen_lea(draw) -> str:
    dst = reg_name(draw, draw(st.sampled_from((16, 32, 64))))
    if draw(st.integers(0, 7)) == 0:
        disp = draw(st.integers(-0x1000, 0x1000))
        return f"lea {dst}, [rip {'-' if disp < 0 else '+'} {abs(disp):#x}]"
    size = 32 if draw(st.integers(0, 5)) == 0 else 64       # 0x67: 32-bit address
    base = draw(st.sampled_from(FREE + ("rdi", "rsp")))
    index = draw(st.sampled_from(FREE + ("rdi",)))
    scale = draw(st.sampled_from((1, 2, 4, 8)))
    disp = draw(st.integers(-0x80000000, 0x7FFFFFFF))
    sign = "-" if disp < 0 else "+"
    return f"lea {dst}, [{reg(base, size)} + {reg(index, size)}*{scale} {sign} {abs(disp):#x}]"


def gen_binary(draw) -> str:
    op = draw(st.sampled_from(BINARY))
    bits = draw(widths)
    dst, src = operands(draw, bits)
    if op == "test" and "ptr" in src:   # test has only the r/m, reg order
        dst, src = src, dst
    return f"{op} {dst}, {src}"


def gen_unary(draw) -> str:
    bits = draw(widths)
    target = mem(draw, bits) if draw(st.booleans()) else reg_name(draw, bits, draw(st.booleans()))
    return f"{draw(st.sampled_from(UNARY))} {target}"


def gen_setcc(draw) -> str:
    target = mem(draw, 8) if draw(st.booleans()) else reg_name(draw, 8, draw(st.booleans()))
    return f"set{draw(st.sampled_from(CONDITIONS))} {target}"


def gen_cmov(draw) -> str:
    bits = draw(st.sampled_from((16, 32, 64)))
    return f"cmov{draw(st.sampled_from(CONDITIONS))} {reg_name(draw, bits)}, {any_source(draw, bits)}"


def gen_xchg(draw) -> str:
    bits = draw(widths)
    legacy = bits == 8 and draw(st.booleans())
    a = reg_name(draw, bits, legacy)
    b = mem(draw, bits) if draw(st.booleans()) else reg_name(draw, bits, legacy)
    return f"xchg {a}, {b}"


def gen_widen(draw) -> str:
    return draw(st.sampled_from(("cbw", "cwde", "cdqe", "cwd", "cdq", "cqo")))


def gen_push(draw) -> tuple[str, int]:
    kind = draw(st.sampled_from(["r64", "r16", "imm", "m64", "m16"]))
    if kind == "imm":
        return f"push {imm(draw, 32)}", 8
    if kind[0] == "m":
        return f"push {mem(draw, int(kind[1:]))}", int(kind[1:]) // 8
    return f"push {reg(draw(st.sampled_from(FREE + ('rdi',))), int(kind[1:]))}", int(kind[1:]) // 8


def gen_pop(draw, depth: int) -> tuple[str, int]:
    bits = draw(st.sampled_from((64, 16))) if depth >= 8 else 16
    target = mem(draw, bits) if draw(st.booleans()) else reg_name(draw, bits)
    return f"pop {target}", bits // 8


def gen_block_break(draw, label: str) -> str:
    """A jmp or jcc to the very next instruction: straight-line still, but the flags must now
    cross a block boundary through guest state (the dynamic cc path)."""
    op = draw(st.sampled_from(("jmp",) + tuple(f"j{c}" for c in CONDITIONS)))
    return f"{op} {label}; {label}:"


SIMPLE = (gen_mov, gen_extend, gen_lea, gen_binary, gen_binary, gen_unary, gen_setcc, gen_cmov,
          gen_xchg, gen_widen)


@st.composite
def sequences(draw):
    """(instructions, registers, rflags, data prefix)."""
    count = draw(st.integers(1, 12))
    insns: list[str] = []
    depth = 0
    while len(insns) < count:
        choice = draw(st.integers(0, len(SIMPLE) + 2))
        if choice < len(SIMPLE):
            insns.append(SIMPLE[choice](draw))
        elif choice == len(SIMPLE) + 2:
            insns.append(gen_block_break(draw, f"next{len(insns)}"))
        elif choice == len(SIMPLE) or depth < 2:
            text, size = gen_push(draw)
            insns.append(text)
            depth += size
        else:
            text, size = gen_pop(draw, depth)
            insns.append(text)
            depth -= size
    while depth:                     # balance the stack
        text, size = gen_pop(draw, depth)
        insns.append(text)
        depth -= size
    values = st.one_of(st.integers(0, MASK64),
                       st.sampled_from(edge_values(64) + edge_values(32) + edge_values(8)))
    regs = {name: draw(values) for name in GPRS if name not in ("rsp", "rdi")}
    regs["rdi"] = DATA_ADDR
    flags = draw(st.integers(0, STATUS_FLAGS)) & STATUS_FLAGS
    data = draw(st.binary(min_size=MEM_SPAN + 8, max_size=MEM_SPAN + 8))
    return insns, regs, flags | 0x2, data


def _decoder() -> capstone.Cs:
    cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    cs.detail = True
    return cs


DECODER = _decoder()
PROTECTED = frozenset({"rdi", "edi", "di", "dil", "rsp", "esp", "sp", "spl"})


def assemble_checked(insns: list[str]) -> bytes:
    """Assemble and make sure keystone encoded what was asked: one instruction each, and
    nothing but push/pop writes rsp or rdi (a wrong encoding could crash the native run)."""
    code = assemble("; ".join(insns))
    decoded = list(DECODER.disasm(code, CODE_ADDR))
    assert len(decoded) == len(insns) and sum(i.size for i in decoded) == len(code), (
        f"keystone encoded {insns} as {[f'{i.mnemonic} {i.op_str}' for i in decoded]}")
    for text, insn in zip(insns, decoded):
        written = {insn.reg_name(r) for r in insn.regs_access()[1]}
        if insn.mnemonic not in ("push", "pop"):
            assert not written & PROTECTED, f"{text!r} assembled as {insn.mnemonic} {insn.op_str}"
        elif insn.operands and insn.operands[0].type == capstone.x86_const.X86_OP_REG:
            assert insn.reg_name(insn.operands[0].reg) not in PROTECTED or insn.mnemonic == "push"
    return code


@configured(EXAMPLES)
@given(case=sequences())
def test_random_sequence_matches_host(case):
    insns, regs, rflags, data = case
    check(assemble_checked(insns), regs=regs, rflags=rflags, data=data)


@configured(max(EXAMPLES // 2, 1))
@given(case=sequences())
def test_random_sequence_same_state_and_icount_in_both_engines(case):
    """The engines agree with each other on everything, including instructions retired."""
    insns, regs, rflags, data = case
    code = assemble_checked(insns)
    full = data + default_data()[len(data):]
    jit, interp = (run_dbt(e, code, regs, full, rflags) for e in ("jit", "interp"))
    assert jit.cpu.icount == interp.cpu.icount == len(insns), insns
    for name in GPRS:
        assert jit.reg_read(name) == interp.reg_read(name), (name, insns)
    assert jit.rflags & STATUS_FLAGS == interp.rflags & STATUS_FLAGS, insns
    assert jit.read(DATA_ADDR, DATA_SIZE) == interp.read(DATA_ADDR, DATA_SIZE), insns
