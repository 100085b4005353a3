"""The interpreter as an engine: the same protocol as LLVMEngine, executing IR in Python.

Chaining and the jump cache have no meaning here: every block returns to the
executor, which finds the next one.
"""
from dbt.backend.interp import Interpreter
from dbt.ir.exits import ExitReason
from dbt.ir.ops import Block


class InterpEngine:
    name = "interp"

    def __init__(self, cpu, mem):
        self.interp = Interpreter(cpu, mem)

    def compile(self, block: Block, key: bytes | None = None) -> Block:
        return block

    def execute(self, code: Block) -> ExitReason:
        return self.interp.run(code)

    @staticmethod
    def link(slot, code) -> None:
        pass

    def jc_set(self, pc, code) -> None:
        pass

    def jc_clear(self, pc) -> None:
        pass
