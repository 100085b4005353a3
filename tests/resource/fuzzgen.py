"""Random fuzz cases for the engines: guest code, registers, flags and memory, from a case number.

Three kinds of code: raw random bytes; random bytes trimmed to what capstone
decodes (valid encodings, mostly rare ones); and keystone-assembled
sequences of common instructions whose memory operands use random bases
(inside the data pages, on their edges, near 2^64, beyond the guest space).
Everything is a pure function of the case number, so a case always replays.
Nothing here knows what dbt computes. Needs tests/ on sys.path (for oracle.*).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import capstone
from keystone import KS_ARCH_X86, KS_MODE_64, Ks, KsError
from oracle.native import GPRS, MASK64
from oracle.strategies import CONDITIONS, PTR, reg

CODE_ADDR = 0x1000_0000
CODE_SIZE = 0x2000            # two pages: blocks cross a page boundary
DATA_ADDR = 0x2000_0000
DATA_PAGES = 4                # each page gets its own random permissions
DATA_SIZE = DATA_PAGES * 0x1000
SPACE = 1 << 32               # the fuzz emulators' guest space (smaller than the default: cheaper to set up)
EDGE_ADDR = SPACE - 0x1000    # a mapped rw page right at the end of the guest space
KINDS = ("bytes", "decoded", "asm")
PERMS = ("rw", "rw", "r", "", "rwx")
FLAG_BITS = 0x8D5 | 0x400     # CF PF AF ZF SF OF, DF


@dataclass
class Case:
    number: int
    kind: str
    code: bytes                   # placed at CODE_ADDR; the run stops on reaching its end
    fill: bytes                   # the rest of the code pages
    code_perms: str
    data: bytes                   # DATA_SIZE bytes at DATA_ADDR
    data_perms: list[str]         # one per data page
    regs: dict[str, int]
    rflags: int
    xmm: list[int] = field(default_factory=list)   # 32 quadwords
    max_insns: int = 1000
    fpu_cw: int = 0x037F          # x87 control word: random rounding and precision control

    def describe(self) -> str:
        cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
        asm = "; ".join(f"{i.mnemonic} {i.op_str}".strip() for i in cs.disasm(self.code, CODE_ADDR))
        regs = " ".join(f"{name}={value:#x}" for name, value in self.regs.items())
        return (f"case {self.number} ({self.kind}): code {self.code.hex()} [{asm}] code_perms "
                f"{self.code_perms} data_perms {self.data_perms} rflags {self.rflags:#x} {regs}")


def interesting_value(rng: random.Random) -> int:
    """A register value: pointers in and around the mapped pages, edges of the space, junk."""
    choice = rng.randrange(12)
    if choice < 4:
        return DATA_ADDR + rng.randrange(-64, DATA_SIZE + 64)
    if choice == 4:
        return DATA_ADDR + rng.randrange(1, DATA_PAGES + 1) * 0x1000 - rng.randrange(1, 16)
    if choice == 5:
        return EDGE_ADDR + rng.randrange(0x1000 + 16) - 8
    if choice == 6:
        return (MASK64 - rng.randrange(0x2000)) & MASK64          # near 2^64: negative offsets
    if choice == 7:
        return rng.choice((0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF_FFFF, 0x8000_0000, 1 << 63, (1 << 63) - 1))
    if choice == 8:
        return CODE_ADDR + rng.randrange(CODE_SIZE)
    if choice == 9:
        return rng.getrandbits(32)
    return rng.getrandbits(64)


# -- keystone-assembled sequences ---------------------------------------------------------------

class AsmGen:
    """Draws one instruction at a time (Intel syntax) over random registers and memory."""

    FREE = ("rax", "rcx", "rdx", "rbx", "rbp", "rsi", "r8", "r9", "r10", "r11", "r12",
            "r13", "r14", "r15")

    def __init__(self, rng: random.Random):
        self.rng = rng

    def width(self) -> int:
        return self.rng.choice((8, 16, 32, 64))

    def reg(self, bits: int) -> str:
        return reg(self.rng.choice(self.FREE), bits)

    def mem(self, bits: int | None) -> str:
        rng = self.rng
        base = "rdi" if rng.random() < 0.9 else rng.choice(GPRS)
        disp = rng.randrange(-8, DATA_SIZE) if rng.random() < 0.15 else rng.randrange(0xF00)
        addr = f"[{base} + {disp}]" if disp >= 0 else f"[{base} - {-disp}]"
        if rng.random() < 0.15:
            index = rng.choice([r for r in GPRS if r != "rsp"])
            addr = f"[{base} + {index}*{rng.choice((1, 2, 4, 8))} + {disp & 0xFFF}]"
        return addr if bits is None else f"{PTR[bits]} ptr {addr}"

    def imm(self, bits: int) -> int:
        b = min(bits, 32)
        value = self.rng.choice((0, 1, (1 << (b - 1)) - 1, 1 << (b - 1), (1 << b) - 1, self.rng.getrandbits(b)))
        return value - (1 << b) if value >> (b - 1) else value

    def rm(self, bits: int) -> str:
        return self.mem(bits) if self.rng.random() < 0.4 else self.reg(bits)

    def binary(self) -> str:
        bits = self.width()
        op = self.rng.choice(("mov", "add", "adc", "sub", "sbb", "and", "or", "xor", "cmp", "test",
                              "xchg", "xadd", "cmpxchg"))
        form = self.rng.randrange(3)
        if form == 0 and op not in ("xchg", "xadd", "cmpxchg"):
            return f"{op} {self.rm(bits)}, {self.imm(bits)}"
        if form == 1 and op not in ("xadd", "cmpxchg", "test"):
            return f"{op} {self.reg(bits)}, {self.rm(bits)}"
        return f"{op} {self.rm(bits)}, {self.reg(bits)}"

    def unary(self) -> str:
        bits = self.width()
        op = self.rng.choice(("inc", "dec", "neg", "not", "mul", "imul", "div", "idiv"))
        return f"{op} {self.rm(bits)}"

    def shift(self) -> str:
        bits = self.width()
        op = self.rng.choice(("shl", "shr", "sar", "rol", "ror", "rcl", "rcr"))
        count = "cl" if self.rng.random() < 0.4 else str(self.rng.randrange(64))
        if self.rng.random() < 0.2 and bits > 8:
            op2 = self.rng.choice(("shld", "shrd"))
            return f"{op2} {self.rm(bits)}, {self.reg(bits)}, {count}"
        return f"{op} {self.rm(bits)}, {count}"

    def bits_op(self) -> str:
        bits = self.rng.choice((16, 32, 64))
        op = self.rng.choice(("bt", "bts", "btr", "btc", "bsf", "bsr", "popcnt", "lzcnt", "tzcnt",
                              "imul", "cmov" + self.rng.choice(CONDITIONS), "bswap", "movzx", "movsx"))
        if op == "bswap":
            return f"bswap {self.reg(self.rng.choice((32, 64)))}"
        if op in ("movzx", "movsx"):
            return f"{op} {self.reg(bits)}, {self.rm(8 if bits == 16 else self.rng.choice((8, 16)))}"
        if op.startswith("bt"):
            src = self.imm(8) & 0x3F if self.rng.random() < 0.5 else self.reg(bits)
            return f"{op} {self.rm(bits)}, {src}"
        if op == "imul" and self.rng.random() < 0.5:
            return f"imul {self.reg(bits)}, {self.rm(bits)}, {self.imm(bits)}"
        return f"{op} {self.reg(bits)}, {self.rm(bits)}"

    def misc(self) -> str:
        rng = self.rng
        choice = rng.randrange(10)
        if choice == 0:
            return f"set{rng.choice(CONDITIONS)} {self.rm(8)}"
        if choice == 1:
            return f"lea {self.reg(rng.choice((16, 32, 64)))}, {self.mem(None)}"
        if choice == 2:
            return rng.choice(("push", "pop")) + f" {rng.choice((self.reg(64), self.mem(64)))}"
        if choice == 3:
            return rng.choice(("cbw", "cwde", "cdqe", "cwd", "cdq", "cqo", "clc", "stc", "cmc",
                               "cld", "std", "lahf", "sahf", "pushfq", "popfq", "nop", "ret", "leave"))
        if choice == 4:
            prefix = rng.choice(("", "rep ", "repne "))
            op = rng.choice(("movs", "stos", "lods", "scas", "cmps"))
            return f"{prefix}{op}{rng.choice('bwdq')}"
        if choice == 5:
            return f"movabs {self.reg(64)}, {rng.getrandbits(64):#x}"
        if choice == 6:
            op = rng.choice(("movdqu", "movq", "movd", "paddd", "pxor", "pcmpeqb", "punpcklbw",
                             "addsd", "mulss", "cvtsi2sd", "ucomisd"))
            x = f"xmm{rng.randrange(16)}"
            if op in ("movq", "movd", "cvtsi2sd"):
                return f"{op} {x}, {self.reg(64 if op != 'movd' else 32)}"
            if op == "movdqu" and rng.random() < 0.5:
                return f"movdqu {self.mem(None)}, {x}"
            src = f"xmm{rng.randrange(16)}" if rng.random() < 0.6 else self.mem(None)
            return f"{op} {x}, {src}"
        if choice == 7:
            return rng.choice(("fld1", "fldz", "fldpi", "faddp", "fmulp", "fsqrt", "fchs", "fxch",
                               f"fld qword ptr {self.mem(None)}", f"fstp qword ptr {self.mem(None)}",
                               f"fild dword ptr {self.mem(None)}"))
        if choice == 8:
            return rng.choice(("int3", "ud2", "hlt", "syscall", "cpuid", "rdtsc", "int 0x80", "into"))
        return f"{rng.choice(('call', 'jmp'))} {self.rm(64)}"

    def instruction(self) -> str:
        rng = self.rng
        return rng.choice((self.binary, self.binary, self.unary, self.shift, self.bits_op, self.misc,
                           self.misc))()


def assemble_sequence(rng: random.Random, ks: Ks) -> bytes:
    """1-16 instructions, each line labelled L<i>; jumps go to a random label (backward: a loop)."""
    gen = AsmGen(rng)
    count = rng.randrange(1, 17)
    lines = []
    for i in range(count):
        if rng.random() < 0.1:
            cc = rng.choice(CONDITIONS + ("mp", "rcxz", "loop", "call"))
            op = cc if cc in ("loop", "call") else f"j{cc}"
            lines.append(f"L{i}: {op} L{rng.randrange(count + 1)}")
            continue
        line = gen.instruction()
        try:
            ks.asm(line, CODE_ADDR)
        except KsError:
            line = "nop"         # a combination keystone refuses (e.g. ah with a REX register)
        lines.append(f"L{i}: {line}")
    lines.append(f"L{count}: nop")
    return bytes(ks.asm("; ".join(lines), CODE_ADDR)[0])


def decoded_bytes(rng: random.Random, cs: capstone.Cs) -> bytes:
    """Random bytes cut at the first encoding capstone rejects, several pieces joined."""
    code = b""
    while len(code) < 24:
        chunk = rng.randbytes(48)
        end = 0
        for address, size, _mnemonic, _ops in cs.disasm_lite(chunk, 0):
            end = address + size
        code += chunk[:end] if end else b"\x90"
    return code


class CaseMaker:
    """Builds Case objects; holds the (slow to create) keystone and capstone handles."""

    def __init__(self, seed: int = 0):
        self.seed = seed
        self.ks = Ks(KS_ARCH_X86, KS_MODE_64)
        self.cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)

    def make(self, number: int) -> Case:
        rng = random.Random(f"dbt-fuzz-{self.seed}-{number}")
        kind = KINDS[number % len(KINDS)]
        if kind == "bytes":
            code = rng.randbytes(rng.randrange(1, 64))
        elif kind == "decoded":
            code = decoded_bytes(rng, self.cs)
        else:
            code = assemble_sequence(rng, self.ks)
        code = code[:CODE_SIZE - 16]
        rest = CODE_SIZE - len(code)
        fill = rng.randbytes(rest) if rng.random() < 0.3 else b"\xcc" * rest
        regs = {name: interesting_value(rng) & MASK64 for name in GPRS}
        regs["rdi"] = DATA_ADDR + rng.randrange(0, 0x100)
        if rng.random() < 0.8:
            regs["rsp"] = DATA_ADDR + rng.randrange(0x100, DATA_SIZE + 0x10) & ~7
        data_perms = [rng.choice(PERMS) for _ in range(DATA_PAGES)]
        if rng.random() < 0.5:
            data_perms = ["rw"] * DATA_PAGES
        if kind == "asm" and rng.random() < 0.8:
            data_perms[0] = "rw"
        return Case(number, kind, code, fill, rng.choice(("rwx", "rx", "rx")), rng.randbytes(DATA_SIZE),
                    data_perms, regs, rng.getrandbits(12) & FLAG_BITS,
                    [rng.getrandbits(64) for _ in range(32)], rng.choice((50, 1000)),
                    0x007F | rng.getrandbits(4) << 8 if rng.random() < 0.3 else 0x037F)
