"""IR passes: get/put forwarding, constant folding, dead put and dead code elimination.

Guest state must be exact at every op that may leave the block early
(`side_exit` in the op table), so a put is removed only when the same slot
is put again before any side exit. Folding evaluates ops with the
interpreter's own semantics (`evaluate`), so a folded value can never
disagree with an executed one.
"""
from dbt.ir.ops import OPS, Block, Op, Value


def optimize(block: Block, evaluate) -> Block:
    """Run all passes in order. `evaluate(op, env)` computes a pure op on known constants."""
    forward_and_fold(block, evaluate)
    remove_dead_puts(block)
    remove_dead_code(block)
    return block


def _const_value(v: Value) -> int | None:
    return v.op.attrs["value"] if v.op is not None and v.op.opcode == "const" else None


_IDENTITY_RIGHT = {"add": 0, "sub": 0, "or": 0, "xor": 0, "shl": 0, "lshr": 0, "ashr": 0,
                   "rotl": 0, "rotr": 0, "mul": 1}


def _simplify(op: Op) -> Value | None:
    """An existing value equal to op's result (x+0, x&-1, select on a constant, ...), or None."""
    name, args = op.opcode, op.args
    if name in _IDENTITY_RIGHT and len(args) == 2 and _const_value(args[1]) == _IDENTITY_RIGHT[name]:
        return args[0]
    if name == "and" and len(args) == 2 and _const_value(args[1]) == args[1].ty.mask:
        return args[0]
    if name == "select":
        c = _const_value(args[0])
        if c is not None:
            return args[1] if c else args[2]
        if args[1] is args[2]:
            return args[1]
    if name == "trunc" and args[0].op is not None and args[0].op.opcode in ("zext", "sext") \
            and args[0].op.args[0].ty == op.result.ty:
        return args[0].op.args[0]
    return None


def forward_and_fold(block: Block, evaluate) -> None:
    """Forward puts/gets to later gets of the same slot; fold and simplify pure ops."""
    known: dict[str, Value] = {}
    replace: dict[Value, Value] = {}
    out: list[Op] = []
    for op in block.ops:
        op.args = [replace.get(a, a) for a in op.args]
        d = OPS[op.opcode]
        if op.opcode == "get":
            slot = op.attrs["slot"]
            prior = known.get(slot)
            if prior is not None and prior.ty == op.result.ty:
                replace[op.result] = prior
                continue
            known[slot] = op.result
        elif op.opcode == "put":
            known[op.attrs["slot"]] = op.args[0]
        elif d.pure and op.opcode != "const":
            same = _simplify(op)
            if same is not None:
                replace[op.result] = same
                continue
            consts = [_const_value(a) for a in op.args]
            if all(c is not None for c in consts):
                env = dict(zip(op.args, consts))
                op.attrs = {"value": evaluate(op, env) & op.result.ty.mask}
                op.opcode, op.args = "const", []
        out.append(op)
    block.ops = out


def remove_dead_puts(block: Block) -> None:
    """Drop a put that the same slot's next put overwrites with no side exit or get between."""
    overwritten: set[str] = set()
    keep: list[Op] = []
    for op in reversed(block.ops):
        d = OPS[op.opcode]
        if op.opcode == "put":
            slot = op.attrs["slot"]
            if slot in overwritten:
                continue
            overwritten.add(slot)
        elif op.opcode == "get":
            overwritten.discard(op.attrs["slot"])
        elif d.side_exit:
            overwritten.clear()
        keep.append(op)
    keep.reverse()
    block.ops = keep


def remove_dead_code(block: Block) -> None:
    """Drop pure ops and gets whose results nothing uses."""
    used: set[Value] = set()
    keep: list[Op] = []
    for op in reversed(block.ops):
        d = OPS[op.opcode]
        removable = d.pure or op.opcode == "get"
        if removable and op.result is not None and op.result not in used:
            continue
        used.update(op.args)
        keep.append(op)
    keep.reverse()
    block.ops = keep

