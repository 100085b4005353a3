"""Oracle tests of the data-movement family (sem_move.py) against the host CPU.

mov (every width and form, high-byte registers, 32-bit writes that
zero-extend, 8/16-bit writes that merge), movabs, movzx/movsx/movsxd, lea
(every addressing shape, 32-bit results and addresses, rip-relative),
push/pop (registers, immediates, memory, rsp itself, 16-bit), xchg, leave,
cbw/cwde/cdqe/cwd/cdq/cqo, and the nop forms. Registers start with garbage
in the bits an instruction must not touch.
"""
from __future__ import annotations

import pytest

from .harness import check
from .native import CODE_ADDR, DATA_ADDR
from .strategies import (PTR, WIDTHS, Batch, assemble_parts, edge_values, low, mask, reg,
                         sext)

MOVE_REGS = ("rax", "rcx", "rdx", "rbx", "rsi", "rbp", "r8", "r11", "r12", "r15")


@pytest.mark.parametrize("bits", WIDTHS)
def test_mov_every_form(bits):
    """reg<-reg, reg<-imm, reg<-mem, mem<-reg, mem<-imm on each edge value."""
    batch = Batch()
    p = PTR[bits]
    for i, v in enumerate(edge_values(bits)):
        dst = reg(MOVE_REGS[i % len(MOVE_REGS)], bits)
        src = reg(MOVE_REGS[(i + 3) % len(MOVE_REGS)], bits)
        imm = sext(v, 32) if bits == 64 else v    # mov r/m64, imm32 sign-extends
        image = batch.slot(low(v, bits, fill=~v), 8, f"value {v:#x}: source image")
        mem_src = batch.slot(v, bits // 8, f"value {v:#x}: memory source")
        mem_dst = batch.slot(0x5A5A5A5A5A5A5A5A, 8, f"value {v:#x}: mov [mem], {src}")
        mem_imm = batch.slot(0x5A5A5A5A5A5A5A5A, 8, f"value {v:#x}: mov [mem], imm")
        batch.add(f"mov {MOVE_REGS[(i + 3) % len(MOVE_REGS)]}, [rdi + {image:#x}]",
                  f"mov {dst}, {src}",
                  f"mov {p} ptr [rdi + {mem_dst:#x}], {src}",
                  f"mov {p} ptr [rdi + {mem_imm:#x}], {imm}",
                  f"mov {reg('r13', bits)}, {imm}",
                  f"mov {reg('r14', bits)}, {p} ptr [rdi + {mem_src:#x}]")
        for r in (MOVE_REGS[i % len(MOVE_REGS)], "r13", "r14"):
            at = batch.slot(0, 8, f"value {v:#x}: {r} after the movs")
            batch.add(f"mov [rdi + {at:#x}], {r}")
    batch.run()


def test_mov_high_byte_registers():
    """ah..bh read and write bits 8-15, alone and against al..bl and memory."""
    check("mov ah, bl; mov ch, dh; mov dl, bh; mov bh, 0x80; mov byte ptr [rdi], ch; "
          "mov dh, byte ptr [rdi + 1]; mov al, ah; mov ah, ah",
          regs={"rdi": DATA_ADDR})


def test_mov_32_bit_writes_zero_extend_and_narrow_writes_merge():
    check("mov eax, ebx; mov ecx, 0; mov edx, -1; mov r8d, r9d; mov esi, dword ptr [rdi]; "
          "mov r10w, 0x8000; mov r11b, 0x7f; mov bpl, r12b; mov r13w, word ptr [rdi + 2]; "
          "mov r14d, r14d",
          regs={"rdi": DATA_ADDR})


def test_movabs_imm64_and_moffs():
    """movabs r64, imm64 and the a0-a3 absolute-address loads and stores at every width."""
    batch = Batch()
    at = batch.slot(0x8877665544332211, 8, "moffs source")
    out = [batch.slot(0, 8, f"moffs store of {r}") for r in ("al", "ax", "eax", "rax")]
    addr = DATA_ADDR + at
    batch.add("movabs rax, 0x8000000000000001", "movabs r9, 0x123456789abcdef0",
              "movabs rbx, 0xffffffff", "movabs r15, 0")
    for r in ("rax", "eax", "ax", "al"):
        loaded = batch.slot(0, 8, f"rax after movabs {r}, [moffs]")
        batch.add(f"movabs {r}, [{addr + 1:#x}]", f"mov [rdi + {loaded:#x}], rax")
    for r, o in zip(("al", "ax", "eax", "rax"), out):
        batch.add("mov rax, r9", f"movabs [{DATA_ADDR + o:#x}], {r}")
    batch.run(regs={"rax": 0xFEDCBA9876543210})


def extend_cases():
    for src_bits, dst_bits in [(8, 16), (8, 32), (8, 64), (16, 32), (16, 64)]:
        yield pytest.param(src_bits, dst_bits, id=f"{src_bits}to{dst_bits}")


@pytest.mark.parametrize("src_bits, dst_bits", extend_cases())
def test_movzx_movsx(src_bits, dst_bits):
    """Register (incl. ah/bh, sil, r8b) and memory sources; the destination's upper bits
    are garbage (16-bit destinations keep them)."""
    batch = Batch()
    p = PTR[src_bits]
    for i, v in enumerate(edge_values(src_bits)):
        image = batch.slot(low(v << 8 | v, 16) if src_bits == 8 else low(v, 16), 8,
                           f"{v:#x}: source image")
        mem = batch.slot(v, src_bits // 8, f"{v:#x}: memory source")
        batch.add(f"mov rbx, [rdi + {image:#x}]", f"mov rsi, [rdi + {image:#x}]",
                  f"mov r8, [rdi + {image:#x}]")
        sources = (["bl", "bh", "sil", "r8b"] if src_bits == 8 else ["bx", "si", "r8w"])
        for op in ("movzx", "movsx"):
            for j, src in enumerate(sources + [f"{p} ptr [rdi + {mem:#x}]"]):
                dst = reg(("rax", "rcx", "rdx", "rbp", "r12")[j], dst_bits)
                if src == "bh" and dst_bits == 64:
                    dst = "ecx"            # no REX.W with bh: a 32-bit destination instead
                batch.add(f"{op} {dst}, {src}")
            for full in ("rax", "rcx", "rdx", "rbp", "r12"):
                at = batch.slot(0, 8, f"{v:#x}: {full} after the {op}s")
                batch.add(f"mov [rdi + {at:#x}], {full}")
    batch.run(regs={r: low(0, 64, fill=0x1111111111111111 * (k + 1))
                    for k, r in enumerate(("rax", "rcx", "rdx", "rbp", "r12"))})


def test_movsxd():
    batch = Batch()
    for v in edge_values(32):
        mem = batch.slot(v, 4, f"{v:#x}: memory source")
        batch.add(f"mov ecx, {v:#x}", "movsxd rax, ecx", f"movsxd r9, dword ptr [rdi + {mem:#x}]",
                  "movsxd r10, r9d")
        for r in ("rax", "r9", "r10"):
            at = batch.slot(0, 8, f"{v:#x}: {r}")
            batch.add(f"mov [rdi + {at:#x}], {r}")
    batch.run()
    # movsxd without REX.W is a 32-bit move (zero-extends); with 0x66 a 16-bit one.
    for v in (0x7FFFFFFF, 0x80000000, 0xFFFF8000):
        check(bytes.fromhex("63c1") + bytes.fromhex("6663d1") + bytes.fromhex("4c63c1"),
              regs={"rcx": low(v, 32), "rax": -1, "rdx": -1, "r8": -1})


LEA_SHAPES = (
    "lea rax, [rbx + rcx*{s} + {d}]", "lea rax, [rbx + rcx*{s} - {d}]", "lea rax, [rcx*{s} + {d}]",
    "lea rax, [rsp + rcx*{s} + 8]", "lea rax, [rbp + r13*{s}]", "lea rax, [r12 + r9*{s} + {d}]",
    "lea eax, [rbx + rcx*{s} + {d}]", "lea ax, [rbx + rcx*{s} + {d}]",
    "lea eax, [ebx + ecx*{s} + {d}]", "lea r8d, [r13d + r12d*{s} - 1]",
)


@pytest.mark.parametrize("scale", [1, 2, 4, 8])
def test_lea_every_shape(scale):
    """Every base/index/scale/disp shape, 64/32/16-bit results, 0x67 32-bit addresses."""
    batch = Batch()
    for d in (0, 1, 0x7F, 0x80, 0x7FFFFFFF):
        for k, shape in enumerate(LEA_SHAPES):
            text = shape.format(s=scale, d=d)
            batch.add(text)
            at = batch.slot(0, 8, text)
            batch.add(f"mov [rdi + {at:#x}], rax" if "r8d" not in text
                      else f"mov [rdi + {at:#x}], r8")
    batch.add("lea rsi, [rsi]", "lea rdx, [rdx + 0]", "lea r14, [r14*2]", "lea r15, [r15 + r15*8]")
    batch.run(regs={"rbx": 0xFFFFFFFF80000000, "rcx": 0x7FFFFFFFFFFFFFFF, "r9": 0x8000000000000000,
                    "r12": 0x00000001FFFFFFFF, "r13": 0xFFFFFFFFFFFFFFFF, "rbp": 0x123456789})


def test_lea_rip_relative():
    """lea [rip + x] is the address of the next instruction plus x, forward and back."""
    code = assemble_parts("nop; lea rax, [rip]; lea rbx, [rip + 0x1234]; lea rcx, [rip - 0x10]; "
                          "lea edx, [rip + 0x40]; lea si, [rip + here]; here: lea r8, [rip + here]")
    check(code)


@pytest.mark.parametrize("value", [0, 1, 0x7F, 0x80, 0x7FFF, 0x8000, 0x7FFFFFFF, 0x80000000,
                                   0xFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF])
def test_push_pop_registers_and_memory(value):
    check("push rbx; push r9; push qword ptr [rdi + 8]; pop rcx; pop qword ptr [rdi + 16]; pop r10;"
          " push bx; push word ptr [rdi + 8]; pop ax; pop word ptr [rdi + 24]; push r9w; pop r11w",
          regs={"rbx": value, "r9": ~value & mask(64), "rdi": DATA_ADDR},
          data=bytes(8) + value.to_bytes(8, "little"))


@pytest.mark.parametrize("imm", [0, 1, 0x7F, -0x80, -1, 0x80, 0x7FFFFFFF, -0x80000000])
def test_push_immediate(imm):
    """push imm8 / imm32 sign-extend to 64 bits; pop brings them back."""
    check(f"push {imm}; pop rax; push {imm}; push {imm}; pop rbx")


@pytest.mark.parametrize("raw", [
    pytest.param(bytes.fromhex("66683412"), id="imm16-0x1234"),
    pytest.param(bytes.fromhex("66680080"), id="imm16-0x8000"),
    pytest.param(bytes.fromhex("666a80"), id="imm8-(-0x80)"),
    pytest.param(bytes.fromhex("666aff"), id="imm8-(-1)"),
])
def test_push_immediate_16_bit(raw):
    """With 0x66, push imm pushes 2 bytes (keystone cannot spell these)."""
    check(raw + assemble_parts("pop cx; push rdx; pop rdx", addr=CODE_ADDR + len(raw)),
          regs={"rcx": 0xFFFFFFFFFFFFFFFF})


def test_push_pop_rsp_itself():
    """push rsp pushes the old value; pop rsp loads it; [rsp+x] addressing at each moment."""
    check("push rsp; pop rax; push rsp; pop rsp; push qword ptr [rsp + 8]; pop rbx; "
          "push rax; pop qword ptr [rsp]; push rcx; pop qword ptr [rsp - 8]; "
          "mov rdx, rsp; push rsp; pop rsp; sub rdx, rsp")


def test_push_pop_with_rsp_elsewhere():
    """Stack accesses go through rsp wherever it points, not a cached value."""
    check("mov rbp, rsp; lea rsp, [rdi + 0x100]; push rax; push rbx; pop rcx; push 5; "
          "mov rsp, rbp", regs={"rdi": DATA_ADDR})


@pytest.mark.parametrize("bits", WIDTHS)
def test_xchg_registers_and_memory(bits):
    p = PTR[bits]
    regs = {r: low(v, bits) for r, v in zip(("rax", "rcx", "rdx", "rsi", "r8", "r9"),
                                             edge_values(bits)[3:])}
    if bits == 8:
        asm = ("xchg al, cl; xchg ah, ch; xchg dh, bl; xchg ah, al; xchg sil, r8b; "
               "xchg byte ptr [rdi], ah; xchg r9b, byte ptr [rdi + 1]; xchg bh, bh")
    else:
        r = {x: reg(x, bits) for x in ("rax", "rcx", "rdx", "rsi", "r8", "r9")}
        asm = (f"xchg {r['rax']}, {r['rcx']}; xchg {r['rdx']}, {r['rax']}; "
               f"xchg {r['rsi']}, {r['r8']}; xchg {r['r8']}, {r['r8']}; "
               f"xchg {p} ptr [rdi], {r['rdx']}; xchg {r['r9']}, {p} ptr [rdi + 8]")
    check(asm, regs=regs | {"rdi": DATA_ADDR})


def test_xchg_eax_eax_zero_extends():
    """87 c0 (xchg eax, eax) is a 32-bit write; 90 (nop) and 66 90 are not."""
    check(bytes.fromhex("87c0") + bytes.fromhex("87db") + bytes.fromhex("4187c8") + bytes.fromhex("90"),
          regs={"rax": 0x1234567887654321, "rbx": -1, "rcx": -1, "r8": 0xFFFF0000FFFF0000})


@pytest.mark.parametrize("depth", [0, 8, 0x18])
def test_leave(depth):
    """leave: rsp = rbp, then pop rbp (rbp points into the data region)."""
    check(f"push rbp; mov rbp, rsp; sub rsp, {depth + 0x10}; push rax; push rbx; leave; "
          f"mov rbp, rdi; leave", regs={"rdi": DATA_ADDR + 0x800, "rbp": 0x1234})


def test_leave_16_bit():
    check(bytes.fromhex("66c9"), regs={"rbp": DATA_ADDR + 0x800})


@pytest.mark.parametrize("value", [0, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF,
                                   0x80000000, 0xFFFFFFFF, 0x8000000000000000, 0x123456F987F6A580])
def test_sign_extensions_of_the_accumulator(value):
    """cbw cwde cdqe widen rax in place; cwd cdq cqo fill rdx with its sign."""
    batch = Batch()
    for insn in ("cbw", "cwde", "cdqe", "cwd", "cdq", "cqo"):
        batch.add(f"mov rax, {value:#x}", "mov rdx, 0x5555555555555555", insn)
        for r in ("rax", "rdx"):
            at = batch.slot(0, 8, f"{r} after {insn} of {value:#x}")
            batch.add(f"mov [rdi + {at:#x}], {r}")
    batch.run()


NOPS = {
    "nop": "90", "xchg ax, ax": "6690", "nop eax": "0f1fc0", "nop [rax]": "0f1f00",
    "nop [rax+0]": "0f1f4000", "nop [rax+rax+0]": "0f1f440000",
    "nopw [rax+rax+0]": "660f1f440000", "nop [rax+0x0] disp32": "0f1f8000000000",
    "nop [rax+rax+disp32]": "0f1f840000000000", "nopw [rax+rax+disp32]": "660f1f840000000000",
    "nopw cs:[rax+rax]": "662e0f1f840000000000", "nop ax": "660f1fc0", "pause": "f390",
    "endbr64": "f30f1efa", "nop r/m64": "480f1f00",
}


@pytest.mark.parametrize("name", list(NOPS))
def test_nop_forms(name):
    """Nops change nothing and touch no memory (rax holds an unmapped address)."""
    raw = bytes.fromhex(NOPS[name])
    add = bytes.fromhex("4801d8")  # add rax, rbx: flags the nops must keep
    check(add + raw + raw, regs={"rax": 0xDEAD0000DEAD0000, "rbx": 0xFFFF})
