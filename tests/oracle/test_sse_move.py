"""Oracle tests of SSE/SSE2 data movement (sem_sse_move.py) against the host CPU.

The harness does not compare XMM registers, so every sequence loads its XMM inputs
from the data region (the host's XMM registers hold garbage on entry) and stores
every result back to it (movdqu/movq/movd) or to GPRs. Destinations start with a
garbage image so a partial write that forgets to merge, or a load that forgets to
zero the upper lanes, shows. Covered: movd/movq (every form), movdqa/movdqu/movaps/
movups/movapd/movupd/movntdq/movntps/movntpd, movss/movsd (SSE form, through
sem_string's shared MOVSD id), movlps/movhps/movlpd/movhpd, movhlps/movlhps, movnti,
movmskps/movmskpd/pmovmskb, pextrw/pinsrw, prefetch*/fences/clflush, ldmxcsr/stmxcsr,
fxsave/fxrstor (and the 64 forms). Faults (#GP for misaligned 16-byte operands and
reserved MXCSR bits; #UD for the MMX forms) run under dbt only.

The shared helpers here (XmmBatch, lane_edges, vector_pairs, run_to_fault) are
also used by test_sse_int.py.
"""
from __future__ import annotations

import random

import pytest

from .harness import default_regs
from .native import CODE_ADDR, CODE_SIZE, DATA_ADDR, DATA_SIZE, GPRS, assemble
from .strategies import Batch, edge_values, mask, sign_bit

ENGINES = ("jit", "interp")
GARBAGE128 = 0xA5C396E15AD27B48_0F1E2D3C4B5A6978
RND = 0xDEADBEEF


# -- shared helpers ---------------------------------------------------------------

def xmm(i: int) -> str:
    return f"xmm{i % 16}"


def pack(values, lane: int) -> int:
    """An i128 from lanes (low lane first)."""
    return sum((v & mask(lane)) << (i * lane) for i, v in enumerate(values))


def lane_edges(lane: int) -> list[int]:
    """Edge values of one lane: 0, 1, all-ones, sign boundaries, the half-width boundaries
    (saturating packs and high-half products care), a pattern and two random values."""
    m, s = mask(lane), sign_bit(lane)
    rnd = random.Random(lane)
    values = [0, 1, m, s - 1, s, s + 1, m - 1, 0x5555555555555555 & m,
              rnd.getrandbits(lane), rnd.getrandbits(lane)]
    if lane in (16, 32):
        hs, hm = sign_bit(lane // 2), mask(lane // 2)
        values += [hs - 1, hs, hm, hm + 1, (m - hs + 1) & m, (m - hs) & m]
    return values


def vector_pairs(lane: int, n_random: int = 4, seed: int = 0) -> list[tuple[int, int]]:
    """(a, b) vectors whose lanes, taken together, hold every pair of lane_edges, plus random ones."""
    edges = lane_edges(lane)
    pairs = [(x, y) for x in edges for y in edges]
    n = 128 // lane
    out = []
    for k in range(0, len(pairs), n):
        chunk = (pairs[k:k + n] + pairs[:n])[:n]
        out.append((pack([x for x, _ in chunk], lane), pack([y for _, y in chunk], lane)))
    rnd = random.Random(seed * 1000 + lane)
    out += [(rnd.getrandbits(128), rnd.getrandbits(128)) for _ in range(n_random)]
    return out


class XmmBatch(Batch):
    """A Batch with 16-byte aligned slots for vectors (aligned m128 operands)."""

    def vec(self, value: int, what: str) -> int:
        while len(self.data) % 16:
            self.data.append(0xEE)
        return self.slot(value, 16, what)

    def out(self, what: str, size: int = 16) -> int:
        """A fresh aligned result slot holding a recognisable pattern."""
        return self.vec(0x5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A5A, what) if size == 16 else \
            self.slot(0x5A5A5A5A5A5A5A5A, size, what)

    def load(self, reg: str, value: int, what: str) -> None:
        self.add(f"movdqu {reg}, xmmword ptr [rdi + {self.vec(value, what):#x}]")

    def save(self, reg: str, what: str) -> None:
        self.add(f"movdqu xmmword ptr [rdi + {self.out(what):#x}], {reg}")


def run_to_fault(engine: str, asm: str, data: bytes = b"", regs=None):
    """Run `asm` under dbt until it ends or faults; return (stop info, emulator, code)."""
    from dbt.api import Emulator

    code = assemble(asm)
    regs = default_regs() | {"rdi": DATA_ADDR} | dict(regs or {})
    emu = Emulator(engine=engine)
    emu.map(CODE_ADDR, CODE_SIZE, perms="rwx")
    emu.map(DATA_ADDR, DATA_SIZE, perms="rw")
    emu.write(CODE_ADDR, code + b"\xcc" * (CODE_SIZE - len(code)))
    emu.write(DATA_ADDR, data)
    for name in GPRS:
        emu.reg_write(name, regs[name])
    info = emu.run(start=CODE_ADDR, until=CODE_ADDR + len(code), max_insns=1000)
    return info, emu, code


def assert_faults(asm_before: str, faulting: str, vector: int, data: bytes = b"", regs=None):
    """`faulting` raises `vector` at its own address under both engines."""
    asm = "; ".join(p for p in (asm_before, faulting) if p)
    at = CODE_ADDR + len(assemble(asm_before)) if asm_before else CODE_ADDR
    for engine in ENGINES:
        info, emu, _ = run_to_fault(engine, asm, data, regs)
        assert info.reason == "fault" and info.fault.vector == vector, f"{engine}: {asm}: {info!r}"
        assert emu.reg_read("rip") == at, f"{engine}: {asm}: rip {emu.reg_read('rip'):#x}"


def _raw(hexbytes: str) -> str:
    """An encoding keystone does not choose, as a .byte line."""
    return ".byte " + ", ".join(f"0x{hexbytes[k:k + 2]}" for k in range(0, len(hexbytes), 2))


# -- movd / movq ---------------------------------------------------------------------

GPR_PAIRS = (("rcx", "ecx"), ("r9", "r9d"), ("rax", "eax"), ("r14", "r14d"))


def test_movd_movq_every_form():
    """xmm <- r32/r64/m32/m64/xmm zero the rest; r32/r64/m32/m64 <- xmm take the low lane."""
    batch = XmmBatch()
    for i, v in enumerate(edge_values(64)):
        r64, r32 = GPR_PAIRS[i % len(GPR_PAIRS)]
        d, e = xmm(i + 3), xmm(i + 11)
        src = batch.slot(v, 8, f"value {v:#x}")
        batch.add(f"mov {r64}, qword ptr [rdi + {src:#x}]")
        for form in (f"movd {d}, {r32}", f"movq {d}, {r64}", f"movd {d}, dword ptr [rdi + {src:#x}]",
                     f"movq {d}, qword ptr [rdi + {src:#x}]"):
            batch.load(d, GARBAGE128, f"{v:#x}: garbage under {form}")
            batch.add(form)
            batch.save(d, f"{v:#x}: after {form}")
        batch.load(d, (GARBAGE128 << 64 | v) & mask(128), f"{v:#x}: movq source image")
        batch.load(e, GARBAGE128, f"{v:#x}: garbage under movq {e}, {d}")
        batch.add(f"movq {e}, {d}")
        batch.save(e, f"{v:#x}: after movq {e}, {d}")
        batch.load("xmm1", GARBAGE128, f"{v:#x}: garbage under 66 0f d6 movq xmm1, xmm0")
        batch.add(f"movdqa xmm0, {d}", _raw("660fd6c1"))            # movq xmm1, xmm0 (store form)
        batch.save("xmm1", f"{v:#x}: after 66 0f d6 movq xmm1, xmm0")
        batch.load("xmm0", GARBAGE128, f"{v:#x}: garbage under 66 48 0f 6e movq xmm0, [rdi]")
        batch.add(f"lea rdi, [rdi + {src:#x}]", _raw("66480f6e07"), f"lea rdi, [rdi - {src:#x}]")
        batch.save("xmm0", f"{v:#x}: after 66 48 0f 6e movq xmm0, [rdi]")
        out = batch.out(f"{v:#x}: 66 48 0f 7e movq [rdi], xmm0", 8)
        batch.add(f"lea rdi, [rdi + {out:#x}]", _raw("66480f7e07"), f"lea rdi, [rdi - {out:#x}]")
        m32, m64 = batch.out(f"{v:#x}: movd m32", 8), batch.out(f"{v:#x}: movq m64", 8)
        batch.add(f"mov r11, {r64}", f"movd r11d, {d}", f"mov [rdi + {batch.out('r11', 8):#x}], r11",
                  f"mov r12, {r64}", f"not r12", f"movq r12, {d}",
                  f"mov [rdi + {batch.out('r12', 8):#x}], r12",
                  f"movd dword ptr [rdi + {m32:#x}], {d}", f"movq qword ptr [rdi + {m64:#x}], {d}")
    batch.run()


def test_mmx_forms_are_unsupported():
    """The MM-register forms share capstone ids; they must not be lifted as XMM ones."""
    for asm in ("movq mm0, rax", "movd mm1, eax", "movq rax, mm2", "paddb mm0, mm1",
                "pmovmskb eax, mm1", "pextrw eax, mm1, 3", "psllq mm1, 3"):
        assert_faults("", asm, 6)


# -- 128-bit moves -------------------------------------------------------------------

ALIGNED = ("movdqa", "movaps", "movapd")
UNALIGNED = ("movdqu", "movups", "movupd")
NON_TEMPORAL = ("movntdq", "movntps", "movntpd")


@pytest.mark.parametrize("name", ALIGNED + UNALIGNED + NON_TEMPORAL)
def test_move128(name):
    """reg <- reg, reg <- m128, m128 <- reg (the unaligned forms also at odd addresses)."""
    batch = XmmBatch()
    rnd = random.Random(name)
    for i in range(6):
        v = rnd.getrandbits(128)
        d, s = xmm(i), xmm(i + 9)
        at = batch.vec(v, f"{name} source {i}")
        if name not in NON_TEMPORAL:
            batch.add(f"{name} {s}, xmmword ptr [rdi + {at:#x}]")
            batch.load(d, GARBAGE128, f"garbage under {name} {d}, {s}")
            batch.add(f"{name} {d}, {s}")
            batch.save(d, f"{name} {d}, {s}")
        else:
            batch.load(s, v, f"{name} source {i}")
        batch.add(f"{name} xmmword ptr [rdi + {batch.out(f'{name} m128 store {i}'):#x}], {s}")
    if name in UNALIGNED:
        for off in (1, 7, 8, 15):
            spot = batch.vec(rnd.getrandbits(128), "unaligned area") + off
            batch.vec(rnd.getrandbits(128), "unaligned area (second half)")
            batch.add(f"{name} xmm3, xmmword ptr [rdi + {spot:#x}]", "pcmpeqb xmm4, xmm4",
                      f"{name} xmmword ptr [rdi + {spot + 3:#x}], xmm4")
            batch.save("xmm3", f"{name} load at +{off}")
    batch.run()


@pytest.mark.parametrize("name", ALIGNED + NON_TEMPORAL)
def test_misaligned_m128_raises_gp(name):
    if name not in NON_TEMPORAL:
        assert_faults("", f"{name} xmm1, xmmword ptr [rdi + 8]", 13)
    assert_faults("mov rax, 1", f"{name} xmmword ptr [rdi + 4], xmm1", 13)


# -- scalar and half moves ---------------------------------------------------------------

@pytest.mark.parametrize("name, size", [("movss", 4), ("movsd", 8)])
def test_movss_movsd(name, size):
    """reg <- reg merges the low lane; reg <- mem zeroes the rest; mem <- reg stores the lane."""
    batch = XmmBatch()
    ptr = {4: "dword", 8: "qword"}[size]
    rnd = random.Random(size)
    for i in range(6):
        d, s = xmm(i + 2), xmm(i + 10)
        v = rnd.getrandbits(128)
        batch.load(s, v, f"{name} source {i}")
        batch.load(d, GARBAGE128, f"garbage under {name} {d}, {s}")
        batch.add(f"{name} {d}, {s}")
        batch.save(d, f"{name} {d}, {s}")
        at = batch.vec(v, f"{name} memory source {i}")
        batch.add(f"{name} {d}, {ptr} ptr [rdi + {at + 4 * (i % 3):#x}]")
        batch.save(d, f"{name} {d}, m")
        batch.add(f"{name} {ptr} ptr [rdi + {batch.out(f'{name} store {i}', 8) :#x}], {s}")
    batch.run()


@pytest.mark.parametrize("name", ["movlps", "movlpd", "movhps", "movhpd"])
def test_half_moves(name):
    batch = XmmBatch()
    rnd = random.Random(name)
    for i in range(4):
        d = xmm(i * 5)
        v = rnd.getrandbits(128)
        batch.load(d, GARBAGE128 ^ v, f"{name} destination {i}")
        at = batch.vec(v, f"{name} source {i}")
        batch.add(f"{name} {d}, qword ptr [rdi + {at + 8 * (i % 2) + (i // 2):#x}]")
        batch.save(d, f"{name} {d}, m64")
        batch.add(f"{name} qword ptr [rdi + {batch.out(f'{name} store {i}', 8):#x}], {d}")
    batch.run()


@pytest.mark.parametrize("name", ["movhlps", "movlhps"])
def test_movhlps_movlhps(name):
    batch = XmmBatch()
    rnd = random.Random(name)
    for i in range(4):
        d, s = xmm(i * 3), xmm(i * 3 + 8)
        batch.load(d, rnd.getrandbits(128), f"{name} destination {i}")
        batch.load(s, rnd.getrandbits(128), f"{name} source {i}")
        batch.add(f"{name} {d}, {s}")
        batch.save(d, f"{name} {d}, {s}")
    batch.add(f"{name} xmm1, xmm1")
    batch.save("xmm1", f"{name} xmm1, xmm1")
    batch.run()


def test_movnti():
    batch = XmmBatch()
    for i, v in enumerate(edge_values(64)):
        batch.add(f"mov rax, {v:#x}" if v < 1 << 31 else f"movabs rax, {v:#x}",
                  f"movnti dword ptr [rdi + {batch.out(f'movnti m32 {v:#x}', 8) + i % 4:#x}], eax",
                  f"movnti qword ptr [rdi + {batch.out(f'movnti m64 {v:#x}', 8):#x}], rax")
    batch.run()


# -- masks and words ---------------------------------------------------------------------

MSK_DESTS = ("eax", "ecx", "r8d", "r15d")


@pytest.mark.parametrize("name, lane", [("movmskps", 32), ("movmskpd", 64), ("pmovmskb", 8)])
def test_movmsk(name, lane):
    """Sign bits into r32 (the upper half of the register is zeroed)."""
    batch = XmmBatch()
    vectors = [a for a, _ in vector_pairs(lane)] + [b for _, b in vector_pairs(lane)][:4]
    for i, v in enumerate(vectors):
        s, r = xmm(i + 1), MSK_DESTS[i % len(MSK_DESTS)]
        batch.load(s, v, f"{name} source {i}")
        full = {"eax": "rax", "ecx": "rcx", "r8d": "r8", "r15d": "r15"}[r]
        batch.add(f"mov {full}, -1", f"{name} {r}, {s}",
                  f"mov [rdi + {batch.out(f'{name} {r} of vector {i}', 8):#x}], {full}")
    batch.run()


def test_movmsk_rex_w_forms():
    """66 48 0f d7 (pmovmskb r64) and 66 48 0f 50 (movmskpd r64) write the whole register."""
    batch = XmmBatch()
    batch.load("xmm1", 0x80FF7F00_01808080_FF000000_80000000_C0FFEE00, "source")
    for raw, name in (("66480fd7c1", "pmovmskb rax"), ("66480f50c1", "movmskpd rax"),
                      ("480f50c1", "movmskps rax")):
        batch.add("mov rax, -1", _raw(raw), f"mov [rdi + {batch.out(name, 8):#x}], rax")
    batch.run()


def test_pextrw_pinsrw():
    batch = XmmBatch()
    rnd = random.Random(7)
    v = rnd.getrandbits(128)
    batch.load("xmm9", v, "pextrw source")
    batch.load("xmm1", v ^ GARBAGE128, "pextrw source (SSE4.1 encodings)")
    for imm in list(range(8)) + [9, 0xFF]:
        batch.add("mov rdx, -1", f"pextrw edx, xmm9, {imm}",
                  f"mov [rdi + {batch.out(f'pextrw edx, xmm9, {imm}', 8):#x}], rdx",
                  "mov r10, -1", f"pextrw r10d, xmm9, {imm}",
                  f"mov [rdi + {batch.out(f'pextrw r10d, xmm9, {imm}', 8):#x}], r10",
                  f"pextrw word ptr [rdi + {batch.out(f'pextrw m16, xmm9, {imm}', 8) + 1:#x}], xmm9, {imm}",
                  "mov rsi, -1", _raw(f"660f3a15ce{imm:02x}"),        # SSE4.1 pextrw esi, xmm1
                  f"mov [rdi + {batch.out(f'66 0f 3a 15 pextrw esi, xmm1, {imm}', 8):#x}], rsi")
    for imm in list(range(8)) + [11, 0xFF]:
        word = batch.slot(rnd.getrandbits(16), 2, f"pinsrw m16 word for {imm}")
        batch.load("xmm2", v, f"pinsrw destination {imm}")
        batch.add(f"mov eax, {rnd.getrandbits(32):#x}", f"pinsrw xmm2, eax, {imm}")
        batch.save("xmm2", f"pinsrw xmm2, eax, {imm}")
        batch.load("xmm12", v, f"pinsrw destination {imm} (memory)")
        batch.add(f"pinsrw xmm12, word ptr [rdi + {word:#x}], {imm}")
        batch.save("xmm12", f"pinsrw xmm12, m16, {imm}")
    batch.run()


# -- hints, MXCSR, fxsave ----------------------------------------------------------------

def test_hints_are_no_ops():
    batch = XmmBatch()
    batch.add("prefetchnta byte ptr [rdi]", "prefetcht0 byte ptr [rdi + 64]",
              "prefetcht1 byte ptr [rdi + 128]", "prefetcht2 byte ptr [rdi + 4]",
              "prefetchw byte ptr [rdi + 8]", "lfence", "sfence", "mfence",
              "clflush byte ptr [rdi + 256]", "add rax, rbx")
    batch.run()


MXCSR_VALUES = (0x1F80, 0x0000, 0xFFFF, 0x1FBF, 0x9FC0, 0x0040, 0x7F80, 0x1F81)


def test_clflush_checks_its_address():
    assert_faults("lfence", "clflush byte ptr [rdi]", 14, regs={"rdi": 0x1000})


def test_ldmxcsr_stmxcsr():
    batch = XmmBatch()
    for v in MXCSR_VALUES:
        at = batch.slot(v, 4, f"mxcsr value {v:#x}")
        batch.add(f"ldmxcsr dword ptr [rdi + {at:#x}]",
                  f"stmxcsr dword ptr [rdi + {batch.out(f'stmxcsr after {v:#x}', 4):#x}]")
    batch.run()


@pytest.mark.parametrize("bad", [0x10000, 0x80000000, 0xFFFFFFFF])
def test_ldmxcsr_reserved_bits_raise_gp(bad):
    data = bad.to_bytes(4, "little")
    assert_faults("", "ldmxcsr dword ptr [rdi]", 13, data)
    info, emu, _ = run_to_fault("interp", "ldmxcsr dword ptr [rdi]", data)
    assert emu.cpu.mxcsr == 0x1F80      # unchanged by the faulting load


def fxsave_image(rnd: random.Random) -> bytes:
    """An fxsave area to restore: x87 control/status/tags, MXCSR, XMM0-15 (ST0-7 zero)."""
    image = bytearray(512)
    image[0:2] = (0x027F).to_bytes(2, "little")      # all exceptions masked, precision 53 bits
    image[2:4] = (0x6F21).to_bytes(2, "little")      # C3 C2 C1 C0, TOP = 5, PE IE (ES clear)
    image[4] = 0xA5                                   # abridged tags: registers 0 2 5 7 valid
    image[24:28] = (0x1FBF).to_bytes(4, "little")    # every exception flag, all masked
    image[160:416] = rnd.randbytes(256)
    image[416:512] = b"\x77" * 96                    # not written by fxsave
    return bytes(image)


@pytest.mark.parametrize("suffix", ["", "64"])
def test_fxrstor_fxsave_round_trip(suffix):
    """fxrstor of a known image, then fxsave, movdqu of every XMM, and stmxcsr."""
    batch = XmmBatch()
    image = fxsave_image(random.Random(suffix))
    mxcsr = batch.slot(0x1F80, 4, "mxcsr for the last fxsave")
    batch.vec(0, "alignment")
    at = len(batch.data)
    batch.data += image
    batch.legend.append(f"data+{at:#x}: fxrstor image")
    out = len(batch.data)
    batch.data += b"\xee" * 512
    batch.legend.append(f"data+{out:#x}: fxsave{suffix} area")
    batch.add(f"fxrstor{suffix} [rdi + {at:#x}]", f"fxsave{suffix} [rdi + {out:#x}]")
    for i in range(16):
        batch.save(xmm(i), f"xmm{i} after fxrstor")
    batch.add(f"stmxcsr dword ptr [rdi + {batch.out('stmxcsr after fxrstor', 4):#x}]")
    batch.add("pcmpeqb xmm3, xmm3", f"ldmxcsr dword ptr [rdi + {mxcsr:#x}]",
              f"fxsave{suffix} [rdi + {at:#x}]")            # and once more over the image
    batch.run()


def test_fxsave_misaligned_and_fxrstor_bad_mxcsr_raise_gp():
    assert_faults("", "fxsave [rdi + 8]", 13)
    assert_faults("", "fxrstor [rdi + 0x100]", 13, bytes(0x100 + 24) + (0x10000).to_bytes(4, "little"))
