"""Prints IR as text: what `-d op` shows. Names values v0, v1, ... per block."""
from dbt.ir.exits import ExitReason
from dbt.ir.ops import Op, Value


def format_ops(ops: list[Op], params: list[Value] = ()) -> str:
    names: dict[int, str] = {id(p): f"p{i}" for i, p in enumerate(params)}
    lines = []

    def name(v: Value) -> str:
        return names.get(id(v), "?")

    for op in ops:
        args = [name(a) for a in op.args]
        attrs = dict(op.attrs)
        if op.opcode == "insn_start":
            lines.append(f" ---- {attrs['pc']:#x}")
            continue
        if op.opcode == "const":
            args = [hex(attrs.pop("value"))]
        if op.opcode == "exit":
            attrs["reason"] = ExitReason(attrs["reason"]).name
        for key, val in attrs.items():
            args.append(f"{key}={val:#x}" if isinstance(val, int) and key in ("target", "taken", "fallthrough", "next_pc", "pc") else f"{key}={val}")
        text = f"{op.opcode} {', '.join(args)}".rstrip()
        if op.result is not None:
            names[id(op.result)] = f"v{len(names)}"
            text = f"{names[id(op.result)]}:{op.result.ty.name.lower()} = {text}"
        lines.append("  " + text)
    return "\n".join(lines)
