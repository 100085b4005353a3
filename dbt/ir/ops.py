"""The IR's opcodes, declared once as data.

Every consumer (verifier, printer, interpreter, LLVM lowering, passes) reads
this table; none of them keeps its own list of opcodes. An IR block is
straight-line SSA: `Value`s produced by `Op`s in order, ending in exactly one
terminator. Ops flagged `side_exit` may leave the block early (a guest fault);
passes must keep guest state exact at each of them.

Every pure op is total (dbt/backend/interp.py is the definition): shifts by
>= width give 0 (ashr: the sign), rotates take the amount modulo width,
division by 0 divides by 1 and signed MIN / -1 wraps. Lifters raise #DE with
a `check` before dividing; totality only guarantees no input traps the host.
"""
from dataclasses import dataclass, field
import enum


class Ty(enum.IntEnum):
    """IR value types: integers of a width in bits (i1 is a boolean)."""
    I1 = 1
    I8 = 8
    I16 = 16
    I32 = 32
    I64 = 64
    I128 = 128

    @property
    def mask(self) -> int:
        return (1 << self) - 1          # not self.value: enum's descriptor is slow (~25,000 calls at start-up)

    @classmethod
    def of_bits(cls, bits: int) -> "Ty":
        return cls(bits)


@dataclass(frozen=True)
class OpDef:
    name: str
    nargs: int            # number of Value operands (-1: variable)
    result: bool          # produces a Value
    pure: bool = False    # no effect: removable when unused, foldable
    side_exit: bool = False   # may leave the block (fault)
    terminator: bool = False


def _defs(*defs: OpDef) -> dict[str, OpDef]:
    return {d.name: d for d in defs}


BINARY = ("add", "sub", "mul", "and", "or", "xor", "shl", "lshr", "ashr",
          "udiv", "urem", "sdiv", "srem", "rotl", "rotr")
COMPARE = ("eq", "ne", "ult", "ule", "ugt", "uge", "slt", "sle", "sgt", "sge")
CAST = ("zext", "sext", "trunc")
UNARY = ("not", "neg", "ctpop", "ctlz", "cttz", "bswap")

# Vector ops on i128 values seen as lanes of `lane` bits (attrs: lane). Shift counts
# (vshl/vlshr/vashr) are one i64 for all lanes; counts >= lane give 0 (vashr: the
# sign). vpacks/vpacku narrow a then b to half-width lanes with signed / unsigned
# saturation. vmulhu/vmulhs: high half of each lane product. vcmp*: all-ones lanes.
VECTOR_BINARY = ("vadd", "vsub", "vmul", "vmulhu", "vmulhs", "vcmpeq", "vcmpgt",
                 "vminu", "vmaxu", "vmins", "vmaxs", "vaddsu", "vaddss", "vsubsu", "vsubss",
                 "vavgu", "vpacks", "vpacku")
VECTOR_SHIFT = ("vshl", "vlshr", "vashr")

# Floating point on integer bit patterns: f32 in i32, f64 in i64, f80 (x87 extended) in the
# low 80 bits of an i128 (attrs: fmt, naming the operands' format). Operand rc is an i64
# x86 rounding control (0 nearest-even, 1 down, 2 up, 3 toward zero; only rc & 3 counts).
# dbt/backend/softfloat.py is the definition: correctly rounded, subnormals, x86 NaN rules
# (SSE's for f32/f64, the x87's for f80). fmin/fmax are minsd/maxsd
# (a if a < b (a > b) else b, so a NaN or two zeros give b); fcmp (attrs pred) is cmpsd's
# predicate -> i1; fcvt (attrs from_fmt) rounds when narrowing; fcvt_to_int (attrs bits)
# gives the integer indefinite on NaN or overflow; fcvt_from_int takes a signed i32/i64;
# fround rounds to an integral value in the same format. fexc (attrs: of, the float op it
# describes, with that op's attrs; signaling for fcmp/fmin/fmax; args: that op's, then an i32
# sticky) gives (sticky & 0x3F) | the exception flags IE DE ZE OE UE PE (bits 0-5, MXCSR's and
# the x87 status word's order) that op raises: the guest's sticky flags after it.
# ftrans (attrs: insn, an x87 transcendental of dbt/backend/host_x87.py; slot 0/1) runs the host's
# instruction from ST0 = a, ST1 = b (f80 in i128) under rc -> i128: ST(slot) after it in bits 0-79
# and the status word it leaves (C0-C3, the flags) in bits 80-95.
FLOAT_FORMATS = {"f32": Ty.I32, "f64": Ty.I64, "f80": Ty.I128}
FLOAT_PREDICATES = ("eq", "lt", "le", "unord", "neq", "nlt", "nle", "ord")   # cmpsd imm 0-7
FLOAT_BINARY = ("fadd", "fsub", "fmul", "fdiv")                        # (a, b, rc)
FLOAT_ROUNDED = ("fsqrt", "fcvt", "fcvt_to_int", "fcvt_from_int", "fround")   # (a, rc)
FLOAT_OPS = FLOAT_BINARY + FLOAT_ROUNDED + ("fmin", "fmax", "fcmp", "fexc", "ftrans")   # fmin/fmax/fcmp: (a, b)

OPS: dict[str, OpDef] = _defs(
    OpDef("const", 0, True, pure=True),              # attrs: value
    *(OpDef(n, 2, True, pure=True) for n in BINARY),
    *(OpDef(n, 2, True, pure=True) for n in COMPARE),
    *(OpDef(n, 1, True, pure=True) for n in CAST),  # result type given
    *(OpDef(n, 1, True, pure=True) for n in UNARY),
    OpDef("select", 3, True, pure=True),
    *(OpDef(n, 2, True, pure=True) for n in VECTOR_BINARY + VECTOR_SHIFT),
    OpDef("vmovmsk", 1, True, pure=True),     # i128 -> i32: the sign bit of each lane
    OpDef("vshuffle", 2, True, pure=True),    # attrs: lane, indices into lanes of (a, b); -1: zero
    *(OpDef(n, 3, True, pure=True) for n in FLOAT_BINARY),
    *(OpDef(n, 2, True, pure=True) for n in FLOAT_ROUNDED + ("fmin", "fmax", "fcmp")),
    OpDef("fexc", -1, True, pure=True),       # (args of the float op attrs["of"], sticky) -> i32 flags
    OpDef("ftrans", 3, True, pure=True),      # (st0, st1, rc) -> i128: value and status word
    OpDef("get", 0, True),                 # attrs: slot; reads guest state
    OpDef("put", 1, False),                # attrs: slot; writes guest state
    OpDef("load", 1, True, side_exit=True),   # guest memory; result type given
    OpDef("store", 2, False, side_exit=True),  # (addr, value)
    OpDef("cc_all", 4, True, pure=True),   # (cc_op, dst, src, src2) -> RFLAGS arith bits
    OpDef("check", 1, False, side_exit=True),  # attrs: vector, error; fault when arg is true
    OpDef("exit_if", 1, False, side_exit=True),  # attrs: target, retired; leave for target when true
    OpDef("insn_start", 0, False),         # attrs: pc, index; marks a guest insn
    # Terminators. Exits carry the retired-instruction count of the block.
    # A call's goto or jump also has attrs returns_to: the pc its callee's ret comes back to;
    # a ret's jump has attrs ret=True.
    OpDef("goto", 0, False, terminator=True),       # attrs: target (direct, chainable)
    OpDef("branch", 1, False, terminator=True),     # attrs: taken, fallthrough
    OpDef("jump", 1, False, terminator=True),       # indirect: arg is the target
    OpDef("exit", 0, False, terminator=True),       # attrs: reason, next_pc
    OpDef("exit_at", 1, False, terminator=True),    # attrs: reason; arg: the next pc (dynamic)
)


@dataclass(eq=False, slots=True)
class Value:
    """An SSA value: the result of one op."""
    ty: Ty
    op: "Op | None" = None

    def __repr__(self) -> str:
        return f"v{id(self) % 10000}:{self.ty.name.lower()}"


@dataclass(eq=False, slots=True)
class Op:
    opcode: str
    args: list[Value]
    result: Value | None = None
    attrs: dict = field(default_factory=dict)

    @property
    def definition(self) -> OpDef:
        return OPS[self.opcode]


@dataclass
class Block:
    """One translated guest basic block in IR form."""
    pc: int                      # guest address of the first instruction
    ops: list[Op] = field(default_factory=list)
    size: int = 0                # guest bytes covered
    ninsns: int = 0              # guest instructions in the block

    @property
    def terminator(self) -> Op:
        return self.ops[-1]
