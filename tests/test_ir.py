"""IR unit tests: builder type checks, verifier, printer, and the passes' safety rules."""
import pytest

from dbt.backend.interp import evaluate
from dbt.ir.builder import Builder, IRError, new_block
from dbt.ir.exits import ExitReason, Vector
from dbt.ir.ops import Op, Ty
from dbt.ir.passes import optimize, remove_dead_puts
from dbt.ir.printer import format_ops
from dbt.ir.verify import verify


def opcodes(block):
    return [op.opcode for op in block.ops]


def test_builder_rejects_mixed_types():
    _, b = new_block(0)
    with pytest.raises(IRError):
        b.add(b.const(Ty.I32, 1), b.const(Ty.I64, 1))
    with pytest.raises(IRError):
        b.zext(b.const(Ty.I64, 1), Ty.I32)


def test_verifier_catches_use_before_definition_and_missing_terminator():
    block, b = new_block(0)
    b.put("rax", b.const(Ty.I64, 1))
    with pytest.raises(IRError, match="terminator"):
        verify(block.ops)
    stray = Builder([]).const(Ty.I64, 5)
    block.ops.append(Op("put", [stray], None, {"slot": "rbx"}))
    b.goto(0x10)
    with pytest.raises(IRError, match="not defined"):
        verify(block.ops)


def test_printer_names_values_and_exits():
    block, b = new_block(0x1000)
    b.insn_start(0x1000, 0)
    v = b.add(b.get("rax", Ty.I64), 1)
    b.put("rax", v)
    b.exit(ExitReason.SYSCALL, 0x1002)
    text = format_ops(block.ops)
    assert "---- 0x1000" in text and "get slot=rax" in text
    assert "exit reason=SYSCALL, next_pc=0x1002" in text


def test_forwarding_folding_and_dead_code():
    block, b = new_block(0)
    b.put("rax", b.const(Ty.I64, 40))
    x = b.get("rax", Ty.I64)                  # forwarded: 40
    b.put("rbx", b.add(x, 2))                 # folded: 42
    b.put("rax", b.const(Ty.I64, 7))          # makes the first put dead
    b.goto(0)
    optimize(block, evaluate)
    assert sorted(opcodes(block)) == ["const", "const", "goto", "put", "put"]
    puts = {op.attrs["slot"]: op.args[0].op.attrs["value"] for op in block.ops if op.opcode == "put"}
    assert puts == {"rbx": 42, "rax": 7}


def test_put_before_a_side_exit_is_kept():
    # The load may fault: guest state must be exact there, so rax=1 must be stored.
    block, b = new_block(0)
    b.put("rax", b.const(Ty.I64, 1))
    b.put("rbx", b.load(b.get("rcx", Ty.I64), Ty.I64))
    b.put("rax", b.const(Ty.I64, 2))
    b.goto(0)
    remove_dead_puts(block)
    assert [op.attrs["slot"] for op in block.ops if op.opcode == "put"] == ["rax", "rbx", "rax"]


def test_check_is_a_side_exit_too():
    block, b = new_block(0)
    b.put("rax", b.const(Ty.I64, 1))
    b.check(b.eq(b.get("rcx", Ty.I64), 0), Vector.DE)
    b.put("rax", b.const(Ty.I64, 2))
    b.goto(0)
    optimize(block, evaluate)
    assert sum(op.opcode == "put" for op in block.ops) == 2


@pytest.mark.parametrize("opcode, a, b_, ty, want", [
    ("shl", 1, 64, Ty.I64, 0),                 # amounts >= width are defined: 0
    ("ashr", 0x80, 9, Ty.I8, 0xFF),            # ... and sign fill for ashr
    ("rotl", 0x81, 9, Ty.I8, 0x03),            # rotates take the amount modulo width
    ("sdiv", 0xF9, 2, Ty.I8, 0xFD),            # -7 / 2 = -3: truncates toward zero
    ("srem", 0xF9, 2, Ty.I8, 0xFF),            # -7 % 2 = -1: sign of the dividend
    ("udiv", 7, 0, Ty.I8, 7),                  # division is total: a zero divisor acts as 1
    ("sdiv", 0x80, 0xFF, Ty.I8, 0x80),         # ... and MIN / -1 wraps instead of trapping
    ("srem", 0x80, 0xFF, Ty.I8, 0),
])
def test_folding_uses_the_interpreter_semantics(opcode, a, b_, ty, want):
    block, b = new_block(0)
    b.put("rax", b.zext(b.binop(opcode, b.const(ty, a), b.const(ty, b_)), Ty.I64))
    b.goto(0)
    optimize(block, evaluate)
    put = next(op for op in block.ops if op.opcode == "put")
    assert put.args[0].op.opcode == "const" and put.args[0].op.attrs["value"] == want


EDGE = (0, 1, 2, 3, 7, 8, 9, 31, 32, 63, 64, 65, 127, 128, 255, 0x7FFF, 0x8000, 0xFFFF,
        0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, (1 << 64) - 1)
PURE_BINARY = ("add", "sub", "mul", "and", "or", "xor", "shl", "lshr", "ashr", "rotl", "rotr",
               "udiv", "urem", "sdiv", "srem", "eq", "ne", "ult", "ule", "ugt", "uge",
               "slt", "sle", "sgt", "sge")
PURE_UNARY = ("not", "neg", "ctpop", "ctlz", "cttz", "bswap", "sext", "zext")


def _engines():
    from dbt.api import Emulator
    return [Emulator(name) for name in ("jit", "interp")]


def _run_block(emu, code, a, b_):
    emu.cpu.rax, emu.cpu.rbx, emu.cpu.rcx = a, b_, 0
    emu.engine.execute(code)
    return emu.cpu.rcx


@pytest.mark.parametrize("ty", [Ty.I8, Ty.I16, Ty.I32, Ty.I64, Ty.I128])
def test_every_pure_op_agrees_between_llvm_and_interpreter(ty):
    engines = _engines()
    blocks = []
    for opcode in PURE_BINARY + PURE_UNARY:
        if opcode == "bswap" and ty == Ty.I8:
            continue
        block, b = new_block(0)
        x = b.resize(b.get("rax", Ty.I64), ty, signed=True)
        y = b.resize(b.get("rbx", Ty.I64), ty, signed=True)
        if opcode in ("sext", "zext"):
            r = b.cast(opcode, b.trunc(x, Ty.I8), ty) if ty != Ty.I8 else x
        elif opcode in PURE_UNARY:
            r = b.unop(opcode, x)
        elif opcode in PURE_BINARY[15:]:
            r = b.cmp(opcode, x, y)
        else:
            r = b.binop(opcode, x, y)
        r = b.resize(r, Ty.I64) if r.ty != Ty.I128 else b.trunc(b.xor(r, b.lshr(r, 64)), Ty.I64)
        b.put("rcx", r)
        b.exit(ExitReason.SYSCALL, 0)
        verify(block.ops)
        blocks.append((opcode, block))
    for opcode, block in blocks:
        codes = [emu.engine.compile(block) for emu in engines]
        for a in EDGE[::3]:
            for b_ in EDGE:
                got = [_run_block(emu, code, a, b_) for emu, code in zip(engines, codes)]
                assert got[0] == got[1], f"{opcode} {ty.name} a={a:#x} b={b_:#x}: jit {got[0]:#x} interp {got[1]:#x}"


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_exit_at_a_computed_pc(engine):
    from dbt.api import Emulator
    emu = Emulator(engine)
    block, b = new_block(0x1000)
    b.insn_start(0x1000, 0)
    b.exit_at(ExitReason.HLT, b.add(b.get("rax", Ty.I64), 0x10))
    block.ninsns = 1
    verify(block.ops)
    emu.cpu.rax = 0x5000
    assert emu.engine.execute(emu.engine.compile(block)) == ExitReason.HLT
    assert emu.cpu.rip == 0x5010 and emu.cpu.icount == 1


def _vector_values():
    import random
    rng = random.Random(1234)
    patterns = [0, (1 << 128) - 1, int("80" * 16, 16), int("7f" * 16, 16), int("8000" * 8, 16),
                int("7fff" * 8, 16), int("80000000" * 4, 16), int("ff00" * 8, 16), int("0123456789abcdef" * 2, 16)]
    return patterns + [rng.getrandbits(128) for _ in range(12)]


@pytest.mark.parametrize("lane", [8, 16, 32, 64])
def test_every_vector_op_agrees_between_llvm_and_interpreter(lane):
    from dbt.ir.ops import VECTOR_BINARY, VECTOR_SHIFT
    engines = _engines()
    cases = []
    for opcode in VECTOR_BINARY + VECTOR_SHIFT + ("vmovmsk", "vshuffle"):
        if opcode in ("vpacks", "vpacku") and lane == 8:
            continue
        block, b = new_block(0)
        x = b.or_(b.shl(b.zext(b.get("rdx", Ty.I64), Ty.I128), 64), b.zext(b.get("rax", Ty.I64), Ty.I128))
        y = b.or_(b.shl(b.zext(b.get("rsi", Ty.I64), Ty.I128), 64), b.zext(b.get("rbx", Ty.I64), Ty.I128))
        n = 128 // lane
        if opcode in VECTOR_SHIFT:
            r = b.vec(opcode, lane, x, b.and_(b.get("rbx", Ty.I64), 0x7F))
        elif opcode == "vmovmsk":
            r = b.zext(b.vmovmsk(lane, x), Ty.I128)
        elif opcode == "vshuffle":
            r = b.vshuffle(lane, x, y, [(3 * i + 1) % (2 * n) if i % 3 else -1 for i in range(n)])
        else:
            r = b.vec(opcode, lane, x, y)
        b.put("rcx", b.trunc(r, Ty.I64))
        b.put("rdi", b.trunc(b.lshr(r, 64), Ty.I64))
        b.exit(ExitReason.SYSCALL, 0)
        verify(block.ops)
        cases.append((opcode, block))
    values = _vector_values()
    for opcode, block in cases:
        codes = [emu.engine.compile(block) for emu in engines]
        for i, x in enumerate(values):
            y = values[(i * 7 + 3) % len(values)] if opcode not in VECTOR_SHIFT else (i * 5) % 80
            got = []
            for emu, code in zip(engines, codes):
                c = emu.cpu
                c.rax, c.rdx, c.rbx, c.rsi = x & (2**64 - 1), x >> 64, y & (2**64 - 1), y >> 64
                emu.engine.execute(code)
                got.append((c.rdi << 64) | c.rcx)
            assert got[0] == got[1], f"{opcode} lane {lane} x={x:#x} y={y:#x}: jit {got[0]:#x} interp {got[1]:#x}"


@pytest.mark.parametrize("opcode, lane, a, b_, want", [
    ("vadd", 8, 0xFF, 0x01, 0x00),                      # lanes wrap independently
    ("vaddsu", 8, 0xFF, 0x01, 0xFF),                    # unsigned saturation
    ("vaddss", 8, 0x7F, 0x01, 0x7F),                    # signed saturation
    ("vcmpgt", 16, 0x0001, 0xFFFF, 0xFFFF),             # 1 > -1 (signed)
    ("vpacku", 16, 0x0100FFFF, 0, 0xFF00),              # -1 -> 0, 256 -> 255
    ("vpacks", 32, 0x00008000, 0, 0x7FFF),              # 32768 -> 32767
    ("vmulhu", 16, 0xFFFF, 0xFFFF, 0xFFFE),
    ("vavgu", 8, 0x01, 0x02, 0x02),                     # (1 + 2 + 1) >> 1
])
def test_vector_semantics_by_hand(opcode, lane, a, b_, want):
    from dbt.backend.interp_vector import VECTOR_SEMANTICS
    got = VECTOR_SEMANTICS[opcode](a, b_, lane) & ((1 << 128) - 1)
    assert got & ((1 << 32) - 1) == want


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_128_bit_state_slots(engine):
    from dbt.api import Emulator
    emu = Emulator(engine)
    block, b = new_block(0)
    wide = b.or_(b.shl(b.zext(b.get("rax", Ty.I64), Ty.I128), 64), b.zext(b.get("rbx", Ty.I64), Ty.I128))
    b.put("st3", wide)
    b.put("st0", b.add(b.get("st3", Ty.I128), 1))
    b.put("rcx", b.trunc(b.lshr(b.get("st0", Ty.I128), 64), Ty.I64))
    b.exit(ExitReason.SYSCALL, 0)
    emu.cpu.rax, emu.cpu.rbx = 0x1122334455667788, (1 << 64) - 1
    emu.engine.execute(emu.engine.compile(block))
    st = bytes(emu.cpu.st)
    assert st[48:64] == (0x1122334455667788 << 64 | ((1 << 64) - 1)).to_bytes(16, "little")
    assert int.from_bytes(st[0:16], "little") == 0x1122334455667789 << 64
    assert emu.cpu.rcx == 0x1122334455667789
