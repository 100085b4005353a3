"""`-d` tracing, named as QEMU's: in_asm (guest code per block), op (IR), out_asm (host code),
exec (each block executed), int (exceptions and signals delivered), unimp (what dbt lacks).

in_asm/op/out_asm are written at translation time; exec is a block hook of the Python
API (dbt/runtime/hooks.py) installed only when asked for, so with exec off translated
code is the same as without tracing; int and unimp are written on exits that are
already slow (faults, signal delivery, a syscall answered -ENOSYS).
"""
from dbt.ir.exits import Vector
from dbt.ir.printer import format_ops
from dbt.runtime.interrupts import NAMES

TRACE_ITEMS = ("in_asm", "op", "out_asm", "exec", "int", "unimp")
TRANSLATION_ITEMS = frozenset({"in_asm", "op", "out_asm"})


def traces_blocks(trace) -> bool:
    """Whether `trace` (a Trace or None) shows each block as it is translated and compiled."""
    return trace is not None and bool(trace.items & TRANSLATION_ITEMS)


class Trace:
    def __init__(self, items: set[str], out):
        unknown = items - set(TRACE_ITEMS)
        if unknown:
            raise ValueError(f"unknown -d item(s): {', '.join(sorted(unknown))} (known: {', '.join(TRACE_ITEMS)})")
        self.items, self.out = items, out
        from dbt.frontend.x86.decode import new_decoder   # capstone loads only when tracing
        self.cs = new_decoder()
        self.cs.detail = False

    def wants(self, item: str) -> bool:
        return item in self.items

    def _line(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def block(self, block, code, engine, fetch) -> None:
        if not traces_blocks(self):
            return
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

    def exec_block(self, emu, pc: int, size: int) -> None:
        """-d exec, as a block hook: one line per block executed (QEMU: `Trace 0: [.. pc ..]`)."""
        self._line(f"Trace 0: [{pc:016x}] size {size}")

    def exception(self, fault, pc: int) -> None:
        """-d int: a user-mode exception, on its way to the guest as a signal."""
        if "int" not in self.items:
            return
        name = NAMES.get(fault.vector, "int n" if fault.software else "?")
        detail = (f"addr={fault.addr:#x} {'write' if fault.write else 'read'}" if fault.vector == Vector.PF
                  else f"e={fault.error:#06x}")
        self._line(f"int: v={fault.vector:#04x} ({name}) pc={pc:#x} {detail}{' (int n)' if fault.software else ''}")

    def delivery(self, vector: int, pc: int, error: int | None, cr2: int | None, kind: str) -> None:
        """-d int: an event the pc machine delivers through its IDT (a fault in delivery too)."""
        if "int" in self.items:
            name = NAMES.get(vector, kind) if kind != "external" else kind
            self._line(f"int: v={vector:#04x} ({name}) pc={pc:#x}"
                       + (f" e={error:#06x}" if error is not None else "") + (f" cr2={cr2:#x}" if cr2 is not None else ""))

    def signal(self, name: str, signo: int, pc: int, handler: int) -> None:
        """-d int: a signal delivered to a guest handler (user mode)."""
        if "int" in self.items:
            self._line(f"int: signal {signo} ({name}) pc={pc:#x} handler={handler:#x}")

    def unimp(self, what: str) -> None:
        """-d unimp: something the guest used that dbt does not implement."""
        if "unimp" in self.items:
            self._line(f"unimp: {what}")
