"""`-d` tracing, named as QEMU's: in_asm (guest code per block), op (IR), out_asm (host code).

Written at translation time only; a block that is not traced costs nothing.
"""
from dbt.frontend.x86.decode import new_decoder
from dbt.ir.printer import format_ops

TRACE_ITEMS = ("in_asm", "op", "out_asm")


class Trace:
    def __init__(self, items: set[str], out):
        unknown = items - set(TRACE_ITEMS)
        if unknown:
            raise ValueError(f"unknown -d item(s): {', '.join(sorted(unknown))} (known: {', '.join(TRACE_ITEMS)})")
        self.items, self.out = items, out
        self.cs = new_decoder()
        self.cs.detail = False

    def block(self, block, code, engine, fetch) -> None:
        w = self.out.write
        if "in_asm" in self.items:
            w(f"IN: block {block.pc:#x} ({block.ninsns} insns)\n")
            data = fetch(block.pc)[:block.size]
            for insn in self.cs.disasm(data, block.pc):
                w(f"  {insn.address:#x}:  {bytes(insn.bytes).hex(' '):<30} {insn.mnemonic} {insn.op_str}\n")
        if "op" in self.items:
            w(f"OP: block {block.pc:#x}\n{format_ops(block.ops)}\n")
        if "out_asm" in self.items:
            host = getattr(engine, "host_assembly", None)
            w(f"OUT: block {block.pc:#x}\n")
            w(host(code) if host is not None else "  (interpreter: no host code)\n")
        w("\n")
        self.out.flush()
