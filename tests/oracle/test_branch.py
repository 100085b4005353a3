"""Oracle tests of control flow and condition consumers (sem_branch.py), plus cpuid/rdtsc.

Every condition is read after every kind of flag producer, twice: in the
producer's block (the lifter knows the producer: fast compares) and after a
`jmp` into a new block (the flags come from guest state through the dynamic
cc path). setcc, cmovcc and jcc are each checked this way. Then calls and
returns inside the test code, indirect jumps and calls through registers and
memory, loop/loope/loopne/jrcxz/jecxz. cpuid and rdtsc are not comparable
with the host (dbt reports a fixed CPU and virtual time): they are checked
against sem_system.py's documented values, in both engines.
"""
from __future__ import annotations

import pytest

from .harness import check
from .native import CODE_ADDR, DATA_ADDR
from .strategies import (CONDITIONS, PTR, WIDTHS, Batch, assemble_parts, edge_pairs, low, mask,
                         reg, run_dbt, sext)
from .undefined_flags import CF

# op -> template on (dst, src); unary ops ignore src.
PRODUCERS = {
    "cmp": "cmp {d}, {s}", "test": "test {d}, {s}", "add": "add {d}, {s}", "sub": "sub {d}, {s}",
    "adc": "adc {d}, {s}", "sbb": "sbb {d}, {s}", "and": "and {d}, {s}", "or": "or {d}, {s}",
    "xor": "xor {d}, {s}", "inc": "inc {d}", "dec": "dec {d}", "neg": "neg {d}",
}


def producer(op: str, bits: int, b: int, form: int, mem: int) -> str:
    """The flag producer on rcx (a) and rbx (b), in one of three operand forms."""
    d, s = reg("rcx", bits), reg("rbx", bits)
    if form == 1 and op not in ("inc", "dec", "neg"):
        s = str(sext(b, 32) if bits == 64 else sext(b, bits))      # immediate source
    elif form == 2:
        d = f"{PTR[bits]} ptr [rdi + {mem:#x}]"                     # memory destination
    return PRODUCERS[op].format(d=d, s=s)


def setup_pair(batch: Batch, bits: int, a: int, b: int, name: str) -> int:
    """rax = a image, rbx = b image (garbage above); returns a memory copy of a."""
    at_a = batch.slot(low(a, bits), 8, f"{name}: a")
    at_b = batch.slot(low(b, bits), 8, f"{name}: b")
    batch.add(f"mov rax, [rdi + {at_a:#x}]", f"mov rbx, [rdi + {at_b:#x}]")
    return at_a


@pytest.mark.parametrize("bits", WIDTHS)
@pytest.mark.parametrize("op", list(PRODUCERS))
def test_setcc_every_condition(op, bits):
    """All 16 setcc right after the producer, then all 16 again in the next block."""
    batch = Batch()
    for i, (a, b) in enumerate(edge_pairs(bits)):
        form = i % 3
        name = f"pair a={a:#x} b={b:#x}"
        mem = setup_pair(batch, bits, a, b, name)
        text = producer(op, bits, b, form, mem)
        batch.add("mov rcx, rax", text)
        for c in CONDITIONS:
            batch.capture(c, f"{text} ({name}), same block")
        batch.add(f"jmp next{i}", f"next{i}:")
        for c in CONDITIONS:
            batch.capture(c, f"{text} ({name}), next block")
    batch.run(rflags=CF if bits in (16, 64) else 0)


@pytest.mark.parametrize("op", list(PRODUCERS))
def test_jcc_every_condition(op):
    """Each jcc both right after its producer and in a later block (taken or not)."""
    batch = Batch()
    n = 0
    for bits, picks in zip(WIDTHS, [(1, 3), (5, 8), (3, 11), (4, 12)]):
        for k in picks:   # two pairs a width: setcc covers every pair, this the branches
            a, b = edge_pairs(bits)[k]
            name = f"{bits}-bit pair a={a:#x} b={b:#x}"
            mem = setup_pair(batch, bits, a, b, name)
            text = producer(op, bits, b, n % 2, mem)   # repeated: no memory destination
            for c in CONDITIONS:
                fell = batch.slot(0, 1, f"j{c} not taken after {text} ({name}), same block")
                batch.add("mov rcx, rax", text, f"j{c} t{n}", f"mov byte ptr [rdi + {fell:#x}], 1",
                          f"t{n}:")
                n += 1
            batch.add("mov rcx, rax", text, f"jmp t{n}", f"t{n}:")
            n += 1
            for c in CONDITIONS:
                fell = batch.slot(0, 1, f"j{c} not taken after {text} ({name}), next block")
                batch.add(f"j{c} t{n}", f"mov byte ptr [rdi + {fell:#x}], 1", f"t{n}:")
                n += 1
    batch.run()


@pytest.mark.parametrize("bits", [16, 32, 64])
def test_cmovcc_every_condition(bits):
    """cmov from a register and from memory, same block and next block; the 32-bit form
    zero-extends its destination even when the condition is false."""
    batch = Batch()
    old, new = low(0x1111, bits, fill=0xDEADBEEFCAFEF00D), low(0x2222, bits, fill=0x0123456789ABCDEF)
    at_new = batch.slot(new, 8, "cmov source")
    batch.add(f"mov rsi, [rdi + {at_new:#x}]")
    d, s = reg("rdx", bits), reg("rsi", bits)
    for i, (a, b) in enumerate(edge_pairs(bits)[::2]):
        text = ("cmp rax, rbx", f"test {reg('rax', bits)}, {reg('rbx', bits)}",
                f"add {reg('rcx', bits)}, {reg('rbx', bits)}", "dec rcx")[i % 4]
        name = f"{text} on a={a:#x} b={b:#x}"
        setup_pair(batch, bits, a, b, name)
        batch.add("mov rcx, rax", text)
        for where in ("same block", "next block"):
            if where == "next block":
                batch.add(f"jmp next{i}", f"next{i}:")
            for c in CONDITIONS:
                for src in (s, f"{PTR[bits]} ptr [rdi + {at_new:#x}]"):
                    at = batch.slot(0, 8, f"cmov{c} {d}, {src} after {name}, {where}")
                    batch.add(f"mov rdx, {old:#x}", f"cmov{c} {d}, {src}",
                              f"mov [rdi + {at:#x}], rdx")
    batch.run()


def test_setcc_register_destinations():
    """setcc merges into the low byte (or bits 8-15 for ah..bh) of every register kind."""
    check("cmp rax, rbx; seta al; setb ah; setl bh; setg sil; setle bpl; setge r12b; setns dil; "
          "jmp n; n: setnp dh; setz r15b; sets spl",
          regs={"rax": 1, "rbx": 0x8000000000000000, "rsp": 0x20000F08, "rdi": DATA_ADDR})


# -- calls, returns, indirect transfers ------------------------------------------------------

@pytest.mark.parametrize("asm", [
    "call f; jmp done; f: add rax, rbx; ret; done:",
    "call f; add rdx, rax; jmp done; f: mov rax, [rsp]; call g; ret; g: inc rcx; ret; done:",
    "push 7; push 9; call f; jmp done; f: mov rax, [rsp + 8]; ret 16; done:",
    "call f; jmp done; f: ret 0; done:",
    "call next; next: pop rax; sub rax, 5",                     # the get-pc idiom
    "mov ecx, 5; mov eax, 1; call fact; jmp done; "
    "fact: add rax, rax; dec ecx; jz fin; call fact; fin: ret; done:",
    "jmp distant; " + "nop; " * 200 + "distant: inc rax; jmp back; back2: jmp done; back: "
    "jmp back2; done:",
])
def test_call_ret_and_direct_jumps(asm):
    check(asm)


def test_ret_imm16_pops_arguments():
    check("mov rdx, rsp; push 1; push 2; push 3; call f; sub rdx, rsp; jmp done; "
          "f: mov rax, [rsp + 16]; ret 0x18; done:")


@pytest.mark.parametrize("asm", [
    "lea rax, [rip + t]; jmp rax; mov rbx, 1; t: inc rcx",
    "lea r11, [rip + t]; mov [rdi + 8], r11; jmp qword ptr [rdi + 8]; mov rbx, 1; t: inc rcx",
    "lea rax, [rip + f]; call rax; jmp done; f: mov rbx, [rsp]; ret; done:",
    "lea rax, [rip + f]; mov [rdi + 16], rax; call qword ptr [rdi + 16]; jmp done; "
    "f: inc rcx; ret; done:",
    "lea rax, [rip + f]; mov [rdi + 8], rax; lea rsi, [rdi + 8]; call [rsi]; jmp done; "
    "f: lea rdx, [rip + g]; push rdx; ret; g: inc rcx; ret; done:",
    "lea rax, [rip + t1]; lea rbx, [rip + t2]; cmp rcx, rdx; cmovb rax, rbx; jmp rax; "
    "t1: mov r8, 1; jmp done; t2: mov r8, 2; done:",
])
def test_indirect_jumps_and_calls(asm):
    check(asm, regs={"rdi": DATA_ADDR, "rcx": 1, "rdx": 2})


def test_jump_table():
    """A switch: an index into a table of code addresses built with rip-relative lea."""
    cases = "".join(f"c{i}: add r8, {i + 1}; jmp next; " for i in range(4))
    build = "".join(f"lea rax, [rip + c{i}]; mov [rdi + {8 * i}], rax; " for i in range(4))
    for index in range(4):
        check(f"{build} mov ecx, {index}; jmp qword ptr [rdi + rcx*8]; {cases} next:",
              regs={"rdi": DATA_ADDR, "r8": 0})


def test_loops_with_backward_branches():
    check("mov ecx, 10; xor eax, eax; top: add rax, rcx; dec ecx; jnz top; "
          "mov rbx, -3; l2: inc rbx; cmp rbx, 4; jl l2; "
          "xor edx, edx; l3: add edx, 3; test dl, 0x10; jz l3")


@pytest.mark.parametrize("count", [1, 2, 5, 17])
def test_loop(count):
    """loop decrements rcx, jumps while it is not zero, and leaves the flags alone."""
    check("cmp rax, rbx; top: lea rdx, [rdx + 1]; loop top",
          regs={"rcx": count, "rax": 1, "rbx": 2, "rdx": 0})


@pytest.mark.parametrize("zf_at", [0, 2, 4])
def test_loope_loopne(zf_at):
    """loope continues while ZF=1 and rcx != 0; loopne while ZF=0; both decrement first."""
    check(f"mov ecx, 6; xor edx, edx; t1: inc edx; cmp edx, {zf_at}; loopne t1; mov r8, rcx; "
          f"mov ecx, 6; xor edx, edx; t2: inc edx; cmp edx, edx; jz s; s: cmp edx, {zf_at + 1}; "
          f"loope t2; mov r9, rcx", regs={"r8": 0, "r9": 0})


@pytest.mark.parametrize("rcx", [0, 1, 0x100000000, 0xFFFFFFFF])
def test_jrcxz_jecxz(rcx):
    check("jrcxz z1; mov r8, 1; z1: jecxz z2; mov r9, 1; z2: inc rcx; jrcxz z3; mov r10, 1; z3:",
          regs={"rcx": rcx, "r8": 0, "r9": 0, "r10": 0})


def test_loop_with_32_bit_count():
    code = assemble_parts("inc rax") + bytes.fromhex("67e2fb")   # 67 loop: inc rax
    check(code, regs={"rcx": 0x100000003, "rax": 0})


# -- cpuid and rdtsc: checked against the documented virtual CPU ----------------------------

def bits_of(*positions: int) -> int:
    return sum(1 << p for p in positions)


# Transcribed from sem_system.py's module docstring (not from CPUID_LEAVES).
DOCUMENTED_CPUID = {
    0x0: {"eax": 7, "vendor": b"DbtVirtualCP"},
    0x1: {"family": 6, "model": 0x3C,
          "edx": bits_of(0, 4, 8, 15, 24, 25, 26),     # FPU TSC CX8 CMOV FXSR SSE SSE2
          "ecx": bits_of(23)},                         # POPCNT
    0x7: {"eax": 0, "ebx": 0, "ecx": 0, "edx": 0},
    0x80000000: {"eax": 0x80000001},
    0x80000001: {"edx": bits_of(11, 20, 29),           # SYSCALL NX LM
                 "ecx": bits_of(0, 5)},                # LAHF-SAHF ABM
}
UNKNOWN_LEAVES = (0x2, 0x4, 0x8, 0xD, 0x40000000, 0x80000002, 0x80000008, 0xFFFFFFFF)


def cpuid(engine: str, leaf: int, subleaf: int = 0) -> dict[str, int]:
    garbage = 0xFFFFFFFF00000000
    emu = run_dbt(engine, assemble_parts("cpuid"),
                  {"rax": garbage | leaf, "rcx": garbage | subleaf, "rbx": -1 & mask(64),
                   "rdx": -1 & mask(64)})
    return {r: emu.reg_read(r) for r in ("rax", "rbx", "rcx", "rdx")}


@pytest.mark.parametrize("leaf", sorted(DOCUMENTED_CPUID) + list(UNKNOWN_LEAVES))
def test_cpuid_matches_documented_table(leaf):
    jit, interp = cpuid("jit", leaf), cpuid("interp", leaf)
    assert jit == interp
    assert all(v >> 32 == 0 for v in jit.values()), "cpuid writes 32-bit registers: zero-extended"
    want = DOCUMENTED_CPUID.get(leaf, {"eax": 0, "ebx": 0, "ecx": 0, "edx": 0})
    for r in ("eax", "ebx", "ecx", "edx"):
        if r in want:
            assert jit["r" + r[1:]] == want[r], f"leaf {leaf:#x} {r}"
    if "vendor" in want:
        vendor = b"".join(jit[r].to_bytes(4, "little") for r in ("rbx", "rdx", "rcx"))
        assert vendor == want["vendor"]
    if "family" in want:
        eax = jit["rax"]
        family = (eax >> 8) & 0xF
        model = ((eax >> 12) & 0xF0) | ((eax >> 4) & 0xF)
        assert (family, model) == (want["family"], want["model"])


def test_cpuid_leaf_7_ignores_garbage_subleaf():
    assert cpuid("jit", 7, 1) == cpuid("interp", 7, 1) == {r: 0 for r in ("rax", "rbx", "rcx", "rdx")}


def tsc(emu) -> int:
    return (emu.reg_read("rdx") << 32) | emu.reg_read("rax")


@pytest.mark.parametrize("engine", ["jit", "interp"])
@pytest.mark.parametrize("start", [0, 0xFFFFFFF0, 0x123456789])
def test_rdtsc_counts_retired_instructions(engine, start):
    """edx:eax = instructions retired before the rdtsc; rax/rdx upper halves are cleared."""
    regs = {"rax": -1 & mask(64), "rdx": -1 & mask(64)}
    straight = run_dbt(engine, assemble_parts("nop; mov rbx, 1; add rbx, rbx; rdtsc"), regs,
                       icount=start)
    assert tsc(straight) == start + 3
    assert straight.cpu.icount == start + 4
    across = run_dbt(engine, assemble_parts(
        "rdtsc; mov r8, rax; mov r9, rdx; jmp l; l: nop; call f; rdtsc; jmp done; f: ret; done:"),
        regs, icount=start)
    # before the first rdtsc: nothing; before the second: rdtsc mov mov jmp nop call ret
    assert (across.reg_read("r9") << 32 | across.reg_read("r8")) == start
    assert tsc(across) == start + 7
    loop = run_dbt(engine, assemble_parts("mov ecx, 3; t: dec ecx; jnz t; rdtsc"), regs,
                   icount=start)
    assert tsc(loop) == start + 7


def test_rdtsc_agrees_between_engines_across_runs():
    code = assemble_parts("rdtsc; shl rdx, 32; or rax, rdx; mov rbx, rax")
    values = []
    for engine in ("jit", "interp"):
        emu = run_dbt(engine, code, {})
        emu.run(start=CODE_ADDR, until=CODE_ADDR + len(code))   # second run: time went on
        values.append((emu.reg_read("rbx"), emu.cpu.icount))
    assert values[0] == values[1] == (4, 8)
