"""Builds IR: one method per op family, each appending an Op and returning its Value.

Runs at translate time only. Lifters write IR exclusively through this class.
Operand types are checked here so that a lifter bug fails at translation, not
as a wrong answer at run time.
"""
from dbt.ir.ops import BINARY, COMPARE, VECTOR_SHIFT, Block, Op, Ty, Value
from dbt.ir.ops import FLOAT_BINARY, FLOAT_FORMATS, FLOAT_OPS, FLOAT_PREDICATES
from dbt.ir.exits import ExitReason


class IRError(Exception):
    """An IR construction or verification error (a translator bug)."""


class Builder:
    def __init__(self, ops: list[Op]):
        self.ops = ops

    # -- core ---------------------------------------------------------------
    def emit(self, opcode: str, args: list[Value], ty: Ty | None = None, **attrs) -> Value | None:
        result = Value(ty) if ty is not None else None
        op = Op(opcode, list(args), result, attrs)
        if result is not None:
            result.op = op
        self.ops.append(op)
        return result

    def const(self, ty: Ty, value: int) -> Value:
        return self.emit("const", [], ty, value=value & ty.mask)

    def _same(self, opcode: str, a: Value, b: Value) -> None:
        if a.ty != b.ty:
            raise IRError(f"{opcode}: operand types differ ({a.ty.name} vs {b.ty.name})")

    def binop(self, opcode: str, a: Value, b: Value | int) -> Value:
        if isinstance(b, int):
            b = self.const(a.ty, b)
        self._same(opcode, a, b)
        return self.emit(opcode, [a, b], a.ty)

    def cmp(self, opcode: str, a: Value, b: Value | int) -> Value:
        if isinstance(b, int):
            b = self.const(a.ty, b)
        self._same(opcode, a, b)
        return self.emit(opcode, [a, b], Ty.I1)

    def unop(self, opcode: str, a: Value) -> Value:
        return self.emit(opcode, [a], a.ty)

    def cast(self, opcode: str, a: Value, ty: Ty) -> Value:
        if a.ty == ty:
            return a
        grows = ty > a.ty
        if grows != (opcode != "trunc"):
            raise IRError(f"{opcode} from {a.ty.name} to {ty.name}")
        return self.emit(opcode, [a], ty)

    # -- convenience spellings ---------------------------------------------
    def zext(self, a: Value, ty: Ty) -> Value:
        return self.cast("zext", a, ty)

    def sext(self, a: Value, ty: Ty) -> Value:
        return self.cast("sext", a, ty)

    def trunc(self, a: Value, ty: Ty) -> Value:
        return self.cast("trunc", a, ty)

    def resize(self, a: Value, ty: Ty, signed: bool = False) -> Value:
        """Truncate or extend `a` to `ty`."""
        if ty < a.ty:
            return self.trunc(a, ty)
        return self.sext(a, ty) if signed else self.zext(a, ty)

    # -- vectors (i128 as lanes) -----------------------------------------------
    def vec(self, opcode: str, lane: int, a: Value, b: Value) -> Value:
        """A lane-wise op on two i128 values (vshl/vlshr/vashr take an i64 count as b)."""
        if a.ty != Ty.I128 or (b.ty != (Ty.I64 if opcode in VECTOR_SHIFT else Ty.I128)):
            raise IRError(f"{opcode}: operand types {a.ty.name}, {b.ty.name}")
        if lane not in (8, 16, 32, 64) or (opcode in ("vpacks", "vpacku") and lane == 8):
            raise IRError(f"{opcode}: bad lane width {lane}")
        return self.emit(opcode, [a, b], Ty.I128, lane=lane)

    def vmovmsk(self, lane: int, a: Value) -> Value:
        return self.emit("vmovmsk", [a], Ty.I32, lane=lane)

    def vshuffle(self, lane: int, a: Value, b: Value, indices) -> Value:
        """Lanes picked from the 2n lanes of (a, b) by index; -1 gives a zero lane."""
        n = 128 // lane
        indices = tuple(indices)
        if len(indices) != n or any(not -1 <= i < 2 * n for i in indices):
            raise IRError(f"vshuffle: bad indices {indices} for {n} lanes")
        return self.emit("vshuffle", [a, b], Ty.I128, lane=lane, indices=indices)

    def select(self, cond: Value, a: Value, b: Value) -> Value:
        if cond.ty != Ty.I1:
            raise IRError("select condition must be i1")
        self._same("select", a, b)
        return self.emit("select", [cond, a, b], a.ty)

    def bit(self, a: Value, index: int) -> Value:
        """Bit `index` of `a` as an i1."""
        return self.trunc(self.binop("lshr", a, index), Ty.I1) if index else self.trunc(a, Ty.I1)

    def msb(self, a: Value) -> Value:
        return self.bit(a, a.ty.value - 1)

    def bool_to(self, c: Value, ty: Ty) -> Value:
        return self.zext(c, ty)

    # -- floating point on bit patterns (see ops.py) ---------------------------
    def _float_args(self, opcode: str, fmt: str, *values: Value) -> None:
        ty = FLOAT_FORMATS.get(fmt)
        if ty is None:
            raise IRError(f"{opcode}: unknown float format {fmt!r}")
        for v in values:
            if v.ty != ty:
                raise IRError(f"{opcode}: {fmt} operand must be {ty.name}, not {v.ty.name}")

    def _rc(self, opcode: str, rc: Value | int) -> Value:
        if isinstance(rc, int):
            return self.const(Ty.I64, rc)
        if rc.ty != Ty.I64:
            raise IRError(f"{opcode}: rounding control must be I64, not {rc.ty.name}")
        return rc

    def fbinary(self, opcode: str, fmt: str, a: Value, b: Value, rc: Value | int) -> Value:
        """fadd/fsub/fmul/fdiv of two `fmt` bit patterns under x86 rounding control rc."""
        if opcode not in FLOAT_BINARY:
            raise IRError(f"{opcode} is not a float binary op")
        self._float_args(opcode, fmt, a, b)
        return self.emit(opcode, [a, b, self._rc(opcode, rc)], a.ty, fmt=fmt)

    def fsqrt(self, fmt: str, a: Value, rc: Value | int) -> Value:
        self._float_args("fsqrt", fmt, a)
        return self.emit("fsqrt", [a, self._rc("fsqrt", rc)], a.ty, fmt=fmt)

    def fround(self, fmt: str, a: Value, rc: Value | int) -> Value:
        """To an integral value in the same format (roundsd, frndint)."""
        self._float_args("fround", fmt, a)
        return self.emit("fround", [a, self._rc("fround", rc)], a.ty, fmt=fmt)

    def fmin(self, fmt: str, a: Value, b: Value) -> Value:
        """minsd: a if a < b else b."""
        self._float_args("fmin", fmt, a, b)
        return self.emit("fmin", [a, b], a.ty, fmt=fmt)

    def fmax(self, fmt: str, a: Value, b: Value) -> Value:
        """maxsd: a if a > b else b."""
        self._float_args("fmax", fmt, a, b)
        return self.emit("fmax", [a, b], a.ty, fmt=fmt)

    def fcmp(self, pred: str, fmt: str, a: Value, b: Value) -> Value:
        """cmpsd predicate `pred` (eq lt le unord neq nlt nle ord) as an i1."""
        if pred not in FLOAT_PREDICATES:
            raise IRError(f"fcmp: unknown predicate {pred!r}")
        self._float_args("fcmp", fmt, a, b)
        return self.emit("fcmp", [a, b], Ty.I1, fmt=fmt, pred=pred)

    def fcvt(self, from_fmt: str, fmt: str, a: Value, rc: Value | int) -> Value:
        """Between float formats; rounds per rc when narrowing."""
        self._float_args("fcvt", from_fmt, a)
        if fmt not in FLOAT_FORMATS or fmt == from_fmt:
            raise IRError(f"fcvt: from {from_fmt} to {fmt!r}")
        return self.emit("fcvt", [a, self._rc("fcvt", rc)], FLOAT_FORMATS[fmt], fmt=fmt, from_fmt=from_fmt)

    def fcvt_to_int(self, fmt: str, bits: int, a: Value, rc: Value | int) -> Value:
        """To a signed i32/i64 per rc (3 for cvtt*); NaN or overflow gives the integer indefinite."""
        self._float_args("fcvt_to_int", fmt, a)
        if bits not in (32, 64):
            raise IRError(f"fcvt_to_int: bits must be 32 or 64, not {bits}")
        return self.emit("fcvt_to_int", [a, self._rc("fcvt_to_int", rc)], Ty(bits), fmt=fmt, bits=bits)

    def fcvt_from_int(self, fmt: str, a: Value, rc: Value | int) -> Value:
        """From a signed i32/i64, rounded per rc."""
        if a.ty not in (Ty.I32, Ty.I64) or fmt not in FLOAT_FORMATS:
            raise IRError(f"fcvt_from_int: {a.ty.name} to {fmt!r}")
        return self.emit("fcvt_from_int", [a, self._rc("fcvt_from_int", rc)], FLOAT_FORMATS[fmt], fmt=fmt)

    def fexc(self, result: Value, sticky: Value, signaling: bool = False) -> Value:
        """The sticky exception flags (i32, IE DE ZE OE UE PE in bits 0-5) after the float op that
        gave `result`: those of `sticky` (i32) and those the op raises. `signaling`: an fcmp that
        raises IE on a QNaN too (comisd, cmpltsd, fcom); fmin/fmax (minsd/maxsd) always do."""
        op = result.op
        if op is None or op.opcode not in FLOAT_OPS or op.opcode in ("fexc", "ftrans"):
            raise IRError("fexc: not the result of a float op")
        if sticky.ty != Ty.I32:
            raise IRError(f"fexc: sticky flags must be I32, not {sticky.ty.name}")
        signaling = signaling or op.opcode in ("fmin", "fmax")
        return self.emit("fexc", list(op.args) + [sticky], Ty.I32, **op.attrs, of=op.opcode, signaling=signaling)

    def ftrans(self, insn: str, slot: int, st0: Value, st1: Value, rc: Value | int) -> Value:
        """The host's x87 `insn` on ST0, ST1 (f80 in i128): ST(slot) after it in bits 0-79, its
        status word in bits 80-95."""
        self._float_args("ftrans", "f80", st0, st1)
        return self.emit("ftrans", [st0, st1, self._rc("ftrans", rc)], Ty.I128, insn=insn, slot=slot)

    # -- guest state and memory ---------------------------------------------
    def get(self, slot: str, ty: Ty) -> Value:
        return self.emit("get", [], ty, slot=slot)

    def put(self, slot: str, value: Value) -> None:
        self.emit("put", [value], slot=slot)

    def load(self, addr: Value, ty: Ty) -> Value:
        return self.emit("load", [addr], ty)

    def store(self, addr: Value, value: Value) -> None:
        self.emit("store", [addr, value])

    def check(self, cond: Value, vector: int, error: int = 0) -> None:
        """Raise guest fault `vector` (with an error code) when cond (i1) is true."""
        self.emit("check", [cond], vector=int(vector), error=error)

    def exit_if(self, cond: Value, target: int, retired: int) -> None:
        """Leave the block for `target` when cond (i1) is true, with `retired` instructions done."""
        self.emit("exit_if", [cond], target=target, retired=retired)

    def cc_all(self, cc_op: Value, dst: Value, src: Value, src2: Value) -> Value:
        return self.emit("cc_all", [cc_op, dst, src, src2], Ty.I64)

    def insn_start(self, pc: int, index: int) -> None:
        self.emit("insn_start", [], pc=pc, index=index)

    # -- terminators --------------------------------------------------------
    def goto(self, target: int, **call) -> None:
        self.emit("goto", [], target=target, **call)

    def branch(self, cond: Value, taken: int, fallthrough: int) -> None:
        self.emit("branch", [cond], taken=taken, fallthrough=fallthrough)

    def jump(self, target: Value, **kind) -> None:
        self.emit("jump", [target], **kind)

    def exit(self, reason: ExitReason, next_pc: int) -> None:
        self.emit("exit", [], reason=int(reason), next_pc=next_pc)

    def exit_at(self, reason: ExitReason, next_pc: Value) -> None:
        """Return to the runtime with `reason`, continuing at a computed pc (iretq)."""
        self.emit("exit_at", [next_pc], reason=int(reason))


def _add_spellings() -> None:
    """b.add(x, y), b.ult(x, y), b.not_(x), ... for every binary/compare/unary op."""
    for name in BINARY:
        setattr(Builder, name + ("_" if name in ("and", "or") else ""),
                lambda self, a, b, _n=name: self.binop(_n, a, b))
    for name in COMPARE:
        setattr(Builder, name, lambda self, a, b, _n=name: self.cmp(_n, a, b))
    for name in ("not", "neg", "ctpop", "ctlz", "cttz", "bswap"):
        setattr(Builder, name + ("_" if name == "not" else ""),
                lambda self, a, _n=name: self.unop(_n, a))
    for name in FLOAT_BINARY:
        setattr(Builder, name, lambda self, fmt, a, b, rc, _n=name: self.fbinary(_n, fmt, a, b, rc))


_add_spellings()


def new_block(pc: int) -> tuple[Block, Builder]:
    block = Block(pc)
    return block, Builder(block.ops)
