"""The IR interpreter: executes IR blocks in Python. The reference for what every op means.

It must stay simple and obviously correct: one small function per opcode,
integers masked to their type, no caching tricks. Guest memory goes through
GuestMemory's checked accessors, so faults are exactly the rule's.
"""
import ctypes

from dbt.backend.interp_vector import VECTOR_SEMANTICS, movmsk, shuffle
from dbt.frontend.x86.flags import cc_all_case
from dbt.ir.exits import ExitReason, Vector
from dbt.ir.ops import FLOAT_OPS, Block, Op, Ty
from dbt.runtime.cpu import SLOTS
from dbt.runtime.memory import W, WATCH_R, WATCH_W, GuestFault


def _signed(v: int, ty: Ty) -> int:
    return v - (1 << ty.value) if v >> (ty.value - 1) else v


def _shift(kind):
    def run(a, b, ty):
        if b >= ty.value:
            return (ty.mask if a >> (ty.value - 1) else 0) if kind == "ashr" else 0
        if kind == "shl":
            return a << b
        if kind == "lshr":
            return a >> b
        return _signed(a, ty) >> b
    return run


def _rot(left):
    def run(a, b, ty):
        n = b % ty.value
        if not left:
            n = (ty.value - n) % ty.value
        return (a << n) | (a >> (ty.value - n)) if n else a
    return run


def _div(kind):
    """Total division: a zero divisor acts as 1 and signed MIN / -1 wraps, so no input can trap.

    Lifters check for #DE before dividing; these rules only make sure that a
    lifter bug can never become a host SIGFPE in native code.
    """
    def run(a, b, ty):
        if b == 0:
            b = 1
        if kind in ("udiv", "urem"):
            return a // b if kind == "udiv" else a % b
        sa, sb = _signed(a, ty), _signed(b, ty)
        q = abs(sa) // abs(sb) * (1 if (sa < 0) == (sb < 0) else -1)
        return q if kind == "sdiv" else sa - q * sb
    return run


BINARY_SEMANTICS = {
    "add": lambda a, b, ty: a + b,
    "sub": lambda a, b, ty: a - b,
    "mul": lambda a, b, ty: a * b,
    "and": lambda a, b, ty: a & b,
    "or": lambda a, b, ty: a | b,
    "xor": lambda a, b, ty: a ^ b,
    "shl": _shift("shl"), "lshr": _shift("lshr"), "ashr": _shift("ashr"),
    "rotl": _rot(True), "rotr": _rot(False),
    "udiv": _div("udiv"), "urem": _div("urem"), "sdiv": _div("sdiv"), "srem": _div("srem"),
}

COMPARE_SEMANTICS = {
    "eq": lambda a, b, ty: a == b,
    "ne": lambda a, b, ty: a != b,
    "ult": lambda a, b, ty: a < b,
    "ule": lambda a, b, ty: a <= b,
    "ugt": lambda a, b, ty: a > b,
    "uge": lambda a, b, ty: a >= b,
    "slt": lambda a, b, ty: _signed(a, ty) < _signed(b, ty),
    "sle": lambda a, b, ty: _signed(a, ty) <= _signed(b, ty),
    "sgt": lambda a, b, ty: _signed(a, ty) > _signed(b, ty),
    "sge": lambda a, b, ty: _signed(a, ty) >= _signed(b, ty),
}


def _ctlz(a, ty):
    return ty.value - a.bit_length()


def _cttz(a, ty):
    return (a & -a).bit_length() - 1 if a else ty.value


def _bswap(a, ty):
    return int.from_bytes(a.to_bytes(ty.value // 8, "little"), "big")


UNARY_SEMANTICS = {
    "not": lambda a, ty: ~a,
    "neg": lambda a, ty: -a,
    "ctpop": lambda a, ty: bin(a).count("1"),
    "ctlz": _ctlz,
    "cttz": _cttz,
    "bswap": _bswap,
}


def evaluate(op: Op, env: dict) -> int:
    """The value of pure op `op`, given its argument values in env (keyed by Value)."""
    ty = op.result.ty
    args = [env[a] for a in op.args]
    name = op.opcode
    if name == "const":
        return op.attrs["value"]
    if name in BINARY_SEMANTICS:
        return BINARY_SEMANTICS[name](args[0], args[1], ty) & ty.mask
    if name in COMPARE_SEMANTICS:
        return int(COMPARE_SEMANTICS[name](args[0], args[1], op.args[0].ty))
    if name in UNARY_SEMANTICS:
        return UNARY_SEMANTICS[name](args[0], ty) & ty.mask
    if name in ("zext", "trunc"):
        return args[0] & ty.mask
    if name == "sext":
        return _signed(args[0], op.args[0].ty) & ty.mask
    if name == "select":
        return args[1] if args[0] else args[2]
    if name == "cc_all":
        return compute_cc_all(*args)
    if name in VECTOR_SEMANTICS:
        return VECTOR_SEMANTICS[name](args[0], args[1], op.attrs["lane"]) & ty.mask
    if name == "vmovmsk":
        return movmsk(args[0], op.attrs["lane"])
    if name == "vshuffle":
        return shuffle(args[0], args[1], op.attrs["lane"], op.attrs["indices"])
    if name in FLOAT_OPS:
        from dbt.backend.softfloat import evaluate_float     # here: fractions and decimal cost every start ~3.5 ms
        return evaluate_float(op, args)
    raise NotImplementedError(f"interpreter: no semantics for op {name!r}")


def compute_cc_all(cc_op: int, dst: int, src: int, src2: int) -> int:
    """RFLAGS arithmetic bits for a lazy-flags state, by running flags.cc_all_case's IR."""
    params, ops, result = cc_all_case(cc_op)
    env = {p: v for p, v in zip(params, (dst, src, src2))}
    for op in ops:
        env[op.result] = evaluate(op, env)
    return env[result]


class _Fault(Exception):
    def __init__(self, vector, addr=0, error=0):
        self.vector, self.addr, self.error = vector, addr, error


class _Wide:
    """A 128-bit guest-state cell (two little-endian u64 halves) with a .value like ctypes'."""

    def __init__(self, address: int):
        self.halves = (ctypes.c_uint64 * 2).from_address(address)

    @property
    def value(self) -> int:
        return self.halves[0] | (self.halves[1] << 64)

    @value.setter
    def value(self, v: int) -> None:
        self.halves[0], self.halves[1] = v & Ty.I64.mask, (v >> 64) & Ty.I64.mask


def _cell(address: int, ty: Ty):
    if ty == Ty.I128:
        return _Wide(address)
    return {Ty.I64: ctypes.c_uint64, Ty.I32: ctypes.c_uint32, Ty.I16: ctypes.c_uint16}[ty].from_address(address)


class Interpreter:
    """Runs IR blocks against one CPUState and one GuestMemory."""

    watches = True     # a load/store on a page memory hooks watch exits (the hooks' stepper: False)

    def __init__(self, cpu, mem):
        self.cpu, self.mem = cpu, mem
        base = ctypes.addressof(cpu)
        self.cells = {name: _cell(base + off, ty) for name, (off, ty) in SLOTS.items()}

    # -- a whole block ---------------------------------------------------------
    def run(self, block: Block) -> ExitReason:
        """Execute one block; returns the exit reason with cpu.rip set to where to go on."""
        cpu, cells = self.cpu, self.cells
        if cpu.exit_request:
            return ExitReason.INTERRUPT
        if cpu.icount + block.ninsns > cpu.budget:
            return ExitReason.BUDGET
        env: dict[int, int] = {}
        pc, index = block.pc, 0
        try:
            for op in block.ops:
                name = op.opcode
                if name == "insn_start":
                    pc, index = op.attrs["pc"], op.attrs["index"]
                elif name == "get":
                    env[op.result] = cells[op.attrs["slot"]].value
                elif name == "put":
                    cells[op.attrs["slot"]].value = env[op.args[0]]
                elif name == "load":
                    env[op.result] = self._load(env[op.args[0]], op.result.ty.value // 8)
                elif name == "store":
                    value = op.args[1]
                    self._store(env[op.args[0]], value.ty.value // 8, env[value])
                elif name == "exit_if":
                    if env[op.args[0]]:
                        cpu.rip = op.attrs["target"]
                        cpu.icount += op.attrs["retired"]
                        return ExitReason.MISS
                elif name == "check":
                    if env[op.args[0]]:
                        raise _Fault(op.attrs["vector"], 0, op.attrs.get("error", 0))
                elif op.definition.terminator:
                    return self._terminate(op, env, block)
                else:
                    env[op.result] = evaluate(op, env)
        except _Fault as fault:
            cpu.rip = pc
            cpu.icount += index
            cpu.exit_vector, cpu.exit_addr, cpu.exit_error = fault.vector, fault.addr, fault.error
            return ExitReason.FAULT
        raise AssertionError("block without terminator")

    def _load(self, addr: int, size: int) -> int:
        """Load; a load from a page a memory hook watches exits first (PF there), as native code does."""
        try:
            value = self.mem.load(addr, size)
        except GuestFault as f:
            raise _Fault(Vector.PF, f.addr, 0) from None
        watched = self.mem.watched_at(addr, size, WATCH_R) if self.watches and self.mem.watched else None
        if watched is not None:
            raise _Fault(Vector.PF, watched, 0)
        return value

    def _store(self, addr: int, size: int, value: int) -> None:
        """Store; a store into a page of translated code exits first (CODE_WRITE), as native code does."""
        try:
            self.mem.check(addr, size, W)
        except GuestFault as f:
            raise _Fault(Vector.PF, f.addr, 2) from None
        watched = self.mem.watched_at(addr, size, WATCH_W) if self.watches and self.mem.watched else None
        if watched is not None:
            raise _Fault(Vector.PF, watched, 2)
        if self.mem.holds_code(addr, size):
            raise _Fault(Vector.CODE_WRITE, addr, 2)
        self.mem.store(addr, size, value)

    def _terminate(self, op: Op, env: dict, block: Block) -> ExitReason:
        cpu = self.cpu
        cpu.icount += block.ninsns
        name = op.opcode
        if name == "goto":
            cpu.rip = op.attrs["target"]
        elif name == "branch":
            cpu.rip = op.attrs["taken"] if env[op.args[0]] else op.attrs["fallthrough"]
        elif name == "jump":
            cpu.rip = env[op.args[0]]
        elif name == "exit_at":
            cpu.rip = env[op.args[0]]
            return ExitReason(op.attrs["reason"])
        else:
            cpu.rip = op.attrs["next_pc"]
            return ExitReason(op.attrs["reason"])
        return ExitReason.MISS

