"""Oracle tests of the integer ALU family (sem_alu.py) against the host CPU.

add adc sub sbb and or xor cmp test take every operand form at every width:
reg,reg (legacy, REX and high-byte registers), reg,mem, mem,reg, the
accumulator and r/m immediate forms, and the imm8 sign-extended forms;
inc dec neg not take register (incl. ah, sil) and memory forms.

One check runs every form of one op on a few operand pairs. Before each
pair, the destinations are reloaded from the data region; after each form a
setcc records one flag (cycling through CF OF SF ZF PF, so each pair's
computation has every flag recorded), and the harness compares the final
flags in full, AF included. The form that runs last rotates between checks.
A failing check prints a legend that maps each data byte to its pair/form.
"""
from __future__ import annotations

import pytest

from .native import DATA_ADDR
from .strategies import PTR, WIDTHS, Batch, edge_pairs, edge_values, low, mask, reg, sext
from .undefined_flags import CF

CAPTURED = ("b", "o", "s", "e", "p")  # CF OF SF ZF PF
BINARY = ("add", "adc", "sub", "sbb", "and", "or", "xor", "cmp", "test")
UNARY = ("inc", "dec", "neg", "not")
PAIRS_PER_CHECK = 4


def imm_value(b: int, bits: int) -> int:
    """The immediate the form can encode closest to b: imm32 sign-extended at 64 bits."""
    return sext(b, 32) if bits == 64 else sext(b, bits)


def binary_forms(op: str, bits: int, b: int, mem: dict[str, int]) -> list[str]:
    """One instruction per operand form. Register roles: see load_binary_pair()."""
    p = PTR[bits]
    imm = imm_value(b, bits)

    def reg_mem(dst: str, src: str) -> str:   # test only has the r/m, reg order
        return f"{op} {src}, {dst}" if op == "test" else f"{op} {dst}, {src}"

    m = {k: f"{p} ptr [rdi + {v:#x}]" for k, v in mem.items()}
    if bits == 8:
        return [f"{op} cl, bl", f"{op} ah, bh", f"{op} r9b, sil", reg_mem("ch", m["src"]),
                f"{op} {m['dst']}, dh", f"{op} al, {imm}", f"{op} r10b, {imm}",
                f"{op} {m['dst_imm']}, {imm}"]
    forms = [f"{op} {reg('rcx', bits)}, {reg('rsi', bits)}",
             f"{op} {reg('r9', bits)}, {reg('r11', bits)}",
             reg_mem(reg("rdx", bits), m["src"]),
             f"{op} {m['dst']}, {reg('rsi', bits)}",
             f"{op} {reg('rax', bits)}, {imm}",        # accumulator short form
             f"{op} {reg('r10', bits)}, {imm}",
             f"{op} {m['dst_imm']}, {imm}"]
    if op != "test":                                  # test has no imm8 form
        forms += [f"{op} {reg('rbx', bits)}, {sext(b, 8)}",
                  f"{op} {m['dst_imm8']}, {sext(b, 8)}"]
    return forms


def load_binary_pair(batch: Batch, bits: int, a: int, b: int, name: str) -> dict[str, int]:
    """Reload every destination with a and every source with b; return the memory operands.

    8-bit: al ah cl ch r9b r10b hold a; bl bh dh sil hold b. Wider: rax rcx
    rdx rbx r9 r10 hold a, rsi r11 hold b. Upper bits are garbage.
    """
    n = bits // 8
    if bits == 8:
        image_a, image_b = low(a << 8 | a, 16), low(b << 8 | b, 16)
        dests, sources = ("rax", "rcx", "r9", "r10"), ("rbx", "rdx", "rsi")
    else:
        image_a, image_b = low(a, bits), low(b, bits)
        dests, sources = ("rax", "rcx", "rdx", "rbx", "r9", "r10"), ("rsi", "r11")
    at_a = batch.slot(image_a, 8, f"{name}: register image of a")
    at_b = batch.slot(image_b, 8, f"{name}: register image of b")
    batch.add(*(f"mov {r}, [rdi + {at_a:#x}]" for r in dests),
              *(f"mov {r}, [rdi + {at_b:#x}]" for r in sources))
    return {"src": batch.slot(b, n, f"{name}: b, memory source"),
            "dst": batch.slot(a, n, f"{name}: a, memory destination of the reg form"),
            "dst_imm": batch.slot(a, n, f"{name}: a, memory destination of the imm form"),
            "dst_imm8": batch.slot(a, n, f"{name}: a, memory destination of the imm8 form")}


def rotated(forms: list[str], index: int) -> list[str]:
    k = index % len(forms)
    return forms[k + 1:] + forms[:k + 1]   # form k runs last


def groups(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def binary_cases():
    for op in BINARY:
        for bits in WIDTHS:
            for g, pairs in enumerate(groups(edge_pairs(bits), PAIRS_PER_CHECK)):
                carry = CF if g % 2 else 0   # CF in for adc/sbb; later pairs chain it on
                yield pytest.param(op, bits, g, pairs, carry, id=f"{op}{bits}-group{g}-cf{carry}")


@pytest.mark.parametrize("op, bits, group, pairs, rflags", binary_cases())
def test_binary_op_every_form(op, bits, group, pairs, rflags):
    batch = Batch()
    k = 0
    for i, (a, b) in enumerate(pairs):
        name = f"pair a={a:#x} b={b:#x}"
        mem = load_binary_pair(batch, bits, a, b, name)
        for form in rotated(binary_forms(op, bits, b, mem), group + i):
            batch.add(form)
            batch.capture(CAPTURED[k % len(CAPTURED)], f"{form} ({name})")
            k += 1
    batch.run(rflags=rflags)


def unary_forms(op: str, bits: int, at: int) -> list[str]:
    mem = f"{PTR[bits]} ptr [rdi + {at:#x}]"
    if bits == 8:
        return [f"{op} cl", f"{op} ah", f"{op} r9b", f"{op} sil", f"{op} {mem}"]
    return [f"{op} {reg('rcx', bits)}", f"{op} {reg('r9', bits)}", f"{op} {reg('rsi', bits)}",
            f"{op} {mem}"]


def unary_cases():
    for op in UNARY:
        for bits in WIDTHS:
            for g, values in enumerate(groups(edge_values(bits), PAIRS_PER_CHECK)):
                carry = CF if g % 2 else 0   # inc/dec keep CF; not keeps every flag
                yield pytest.param(op, bits, g, values, carry, id=f"{op}{bits}-group{g}-cf{carry}")


@pytest.mark.parametrize("op, bits, group, values, rflags", unary_cases())
def test_unary_op_every_form(op, bits, group, values, rflags):
    batch = Batch()
    k = 0
    for i, a in enumerate(values):
        name = f"a={a:#x}"
        image = batch.slot(low(a << 8 | a, 16) if bits == 8 else low(a, bits), 8,
                           f"{name}: register image")
        batch.add(*(f"mov {r}, [rdi + {image:#x}]" for r in ("rax", "rcx", "rsi", "r9")))
        at = batch.slot(a, bits // 8, f"{name}: memory operand")
        for form in rotated(unary_forms(op, bits, at), group + i):
            batch.add(form)
            for _ in range(2):
                batch.capture(CAPTURED[k % len(CAPTURED)], f"{form} ({name})")
                k += 1
    batch.run(rflags=rflags)


@pytest.mark.parametrize("bits", WIDTHS)
@pytest.mark.parametrize("op", ["adc", "sbb"])
def test_carry_chain(op, bits):
    """A multi-word add/subtract: CF out of each adc/sbb is the next one's CF in."""
    first = "add" if op == "adc" else "sub"
    m = mask(bits)
    batch = Batch()
    r = [reg(x, bits) for x in ("rax", "rbx", "rcx", "rdx", "r8", "r9")]
    for lo, mid, hi in [(m, m, 0), (0, 0, 1), (m, 0, m), (1, m, m >> 1)]:
        name = f"words {lo:#x} {mid:#x} {hi:#x}"
        at = batch.slot(m, 8, f"{name}: memory word")
        src = batch.slot(lo, 8, f"{name}: memory source")
        for full, value in zip(("rax", "rbx", "rcx", "rdx", "r8", "r9"), (lo, mid, hi, 1, 0, m)):
            batch.add(f"mov {full}, {low(value, bits):#x}")
        batch.add(f"{first} {r[0]}, {r[3]}", f"{op} {r[1]}, {r[4]}", f"{op} {r[2]}, {r[5]}",
                  f"{op} {PTR[bits]} ptr [rdi + {at:#x}], {r[0]}",
                  f"{op} {r[0]}, {PTR[bits]} ptr [rdi + {src:#x}]")
        batch.capture("b", f"the chain on {name}")
    batch.run()


PRODUCERS = ("cmp rbx, rcx", "sub ebx, ecx", "add bl, cl", "neg rcx", "inc rbx", "dec rbx",
             "and rbx, rcx", "adc rbx, rcx", "sbb bx, cx", "test ecx, ecx")


@pytest.mark.parametrize("op", ["adc", "sbb"])
@pytest.mark.parametrize("cross_block", [False, True], ids=["same-block", "next-block"])
def test_carry_in_from_every_flag_producer(op, cross_block):
    """adc/sbb read CF from whatever set it last; in the next block CF comes from guest state."""
    batch = Batch()
    cases = [(p, b, c) for p in PRODUCERS for b, c in [(0, 1), (1, 0), (-1, 1), (5, 5)]]
    for n, (producer, b, c) in enumerate(cases):
        name = f"{producer} on rbx={b:#x} rcx={c:#x}"
        batch.add(f"mov rbx, {b}", f"mov rcx, {c}", "mov rdx, 7", "mov esi, 0x80", producer)
        if cross_block:
            batch.add(f"jmp next{n}", f"next{n}:")
        batch.add(f"{op} rdx, rsi")
        batch.capture("b", name)
        at = batch.slot(0, 8, f"rdx after {name}")
        batch.add(f"mov [rdi + {at:#x}], rdx")
    batch.run(rflags=CF)


def test_alu_on_rsp_and_rbp():
    """Arithmetic on the stack and frame pointers is ordinary arithmetic."""
    Batch().run(head="sub rsp, 0x40; add rsp, 0x18; and rsp, -16; mov rbp, rsp; xor rbp, 0xff; "
                     "sub rbp, rsp; cmp rsp, rbp")


def test_dest_equals_source():
    """op r, r with the same register on both sides: xor/sub zero it, and/or keep it."""
    batch = Batch()
    for bits in WIDTHS:
        for op in BINARY:
            name = reg("r12", bits) if bits > 8 else "ah"
            batch.add(f"mov r12, {low(0x80, bits):#x}", f"mov rax, {low(0x8000, 16):#x}",
                      f"{op} {name}, {name}")
            batch.capture(CAPTURED[(bits + len(op)) % 5], f"{op} {name}, {name}")
            at = batch.slot(0, 8, f"r12 after {op} {name}, {name}")
            batch.add(f"mov [rdi + {at:#x}], {'rax' if bits == 8 else 'r12'}")
    batch.run(regs={"rdi": DATA_ADDR})
