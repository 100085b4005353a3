"""The LLVM engine: compiles IR blocks to native functions, runs them, patches chains.

Chaining glue lives here: each direct exit of a block has a slot global; the
runtime patches it (`link`) once the target block exists, and resets it
(`unlink`) when the target is invalidated. Indirect exits look up the native
jump cache, a table of {guest pc, host function} that `jc_set` fills.
"""
import ctypes
from dataclasses import dataclass, field

from dbt.backend.llvm.jit import JIT, runtime_library
from dbt.backend.llvm.lower import JMP_CACHE_ENTRIES, lower_block, runtime_module
from dbt.ir.exits import ExitReason
from dbt.ir.ops import Block

RUNTIME_SYMBOLS = ("dbt_cc_all", "dbt_miss")
BLOCK_FN = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p)


@dataclass
class NativeBlock:
    fn: int                                   # host address of the function
    call: object                              # ctypes callable
    exits: list[tuple[int, int]] = field(default_factory=list)   # (slot address, target pc)
    text: str = ""                            # LLVM IR, for -d out_asm


class LLVMEngine:
    name = "jit"

    def __init__(self, cpu, opt: int = 0, verify: bool = False):
        self.cpu = cpu
        self.cpu_ptr = ctypes.addressof(cpu)
        self.jit = JIT(opt)
        self.verify = verify
        self.compiled = 0
        self.miss_fn = runtime_library(runtime_module(), RUNTIME_SYMBOLS).function("dbt_miss")
        self.jmp_cache = (ctypes.c_uint64 * (2 * JMP_CACHE_ENTRIES))()
        for i in range(JMP_CACHE_ENTRIES):
            self.jmp_cache[2 * i], self.jmp_cache[2 * i + 1] = (1 << 64) - 1, self.miss_fn
        cpu.jmp_cache = ctypes.addressof(self.jmp_cache)

    def compile(self, block: Block) -> NativeBlock:
        self.compiled += 1
        name = f"tb_{block.pc:x}_{self.compiled}"     # unique: a pc is recompiled after invalidation
        text, slots = lower_block(block, name)
        self.jit.add(text, verify=self.verify)
        fn = self.jit.function(name)
        exits = [(self.jit.global_address(name), target) for name, target in slots]
        return NativeBlock(fn, BLOCK_FN(fn), exits, text)

    def execute(self, code: NativeBlock) -> ExitReason:
        return ExitReason(code.call(self.cpu_ptr))

    @staticmethod
    def link(slot: int, code: NativeBlock | None) -> None:
        ctypes.c_void_p.from_address(slot).value = code.fn if code is not None else None

    def _jc_index(self, pc: int) -> int:
        return ((pc >> 12) ^ pc) & (JMP_CACHE_ENTRIES - 1)

    def jc_set(self, pc: int, code: NativeBlock) -> None:
        i = self._jc_index(pc)
        self.jmp_cache[2 * i], self.jmp_cache[2 * i + 1] = pc, code.fn

    def jc_clear(self, pc: int) -> None:
        i = self._jc_index(pc)
        if self.jmp_cache[2 * i] == pc:
            self.jmp_cache[2 * i], self.jmp_cache[2 * i + 1] = (1 << 64) - 1, self.miss_fn

    def host_assembly(self, code: NativeBlock) -> str:
        return self.jit.host_assembly(code.text)
