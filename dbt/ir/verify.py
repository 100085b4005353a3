"""Checks an IR op list: defined-before-use, arity, exactly one final terminator."""
from dbt.ir.builder import IRError
from dbt.ir.ops import OPS, Op, Value


def verify(ops: list[Op], params: list[Value] = (), needs_terminator: bool = True) -> None:
    defined = set(params)
    for i, op in enumerate(ops):
        d = OPS.get(op.opcode)
        if d is None:
            raise IRError(f"op {i}: unknown opcode {op.opcode!r}")
        if d.nargs >= 0 and len(op.args) != d.nargs:
            raise IRError(f"op {i} {op.opcode}: {len(op.args)} args, expected {d.nargs}")
        for a in op.args:
            if a not in defined:
                raise IRError(f"op {i} {op.opcode}: uses a value not defined before it")
        if d.result != (op.result is not None):
            raise IRError(f"op {i} {op.opcode}: result presence wrong")
        if op.result is not None:
            defined.add(op.result)
        if d.terminator and i != len(ops) - 1:
            raise IRError(f"op {i} {op.opcode}: terminator before the end of the block")
    if needs_terminator and (not ops or not OPS[ops[-1].opcode].terminator):
        raise IRError("block does not end in a terminator")
