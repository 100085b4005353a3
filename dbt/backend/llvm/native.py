"""The LLVM engine: compiles IR blocks to native functions, runs them, patches chains.

Chaining glue lives here: each direct exit of a block has a slot global; the
runtime patches it (`link`) once the target block exists, and resets it
(`unlink`) when the target is invalidated. Indirect exits look up the native
jump cache, a table of {guest pc, host function} that `jc_set` fills.
With a `hot_threshold`, blocks count their entries and exit HOT when hot;
`compile_region` then builds one optimised function for several blocks
(codegen -O2); `load_region` loads one that the code cache kept. LLVM
(jit.py) only compiles; every object, compiled now or kept by the code cache,
is loaded by linker.py, so LLVM loads on the first compile, not before.
"""
import ctypes
import functools
import threading
from dataclasses import dataclass, field

from dbt.backend.llvm.codecache import CachedBlock, digest
from dbt.backend.llvm.host_faults import FaultTable
from dbt.backend.llvm.linker import Linker
from dbt.backend.llvm.symbols import JMP_CACHE_ENTRIES, block_symbol, refs_name
from dbt.ir.exits import ExitReason
from dbt.ir.ops import Block
from dbt.runtime.regions import indirect

ENTER_FN = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p)


@dataclass
class RuntimeLibrary:
    """The runtime helpers' code in this process: its linker and the object it loaded."""
    linker: Linker
    obj: bytes = b""


@functools.lru_cache(maxsize=None)
def _runtime_library(text_of) -> RuntimeLibrary:
    """The process's runtime helpers of module text_of(), empty until runtime_library fills it."""
    return RuntimeLibrary(Linker())


def runtime_library(text_of, store=None) -> RuntimeLibrary:
    """The runtime helpers (module text_of()), loaded once per process: their code is never
    freed under a caller, and every engine's linker resolves them through this one.

    With `store` (the persistent code cache) the first use loads their object code from it,
    and a store without it is given it: making the text and compiling it took ~35 ms of a
    0.2 s warm run.
    """
    library = _runtime_library(text_of)
    if not library.obj:                         # first use in this process
        obj = store.runtime_object() if store is not None else None
        if obj is None:
            from dbt.backend.llvm.jit import Compiler      # LLVM loads only to compile
            obj = Compiler(0).compile(text_of(), verify=True)
        library.linker.load([obj])
        library.linker.faults = FaultTable(*map(library.linker.address, (
            "dbt_fault_table", "dbt_fault_readers", "dbt_fault_old", "dbt_on_fault")))
        library.obj = obj
    if store is not None and store.runtime_object() is None:
        store.keep_runtime_object(library.obj)
    return library


def runtime_module_text() -> str:
    """The runtime helpers' module text (runtime_helpers.py, imported only to make it: a run
    whose code the code cache holds lowers nothing, and imports no lowering module)."""
    from dbt.backend.llvm.runtime_helpers import runtime_module
    return runtime_module()


@dataclass
class NativeBlock:
    fn: int                                   # host address of the function
    exits: list[tuple[int, int]] = field(default_factory=list)   # (slot address, target pc)
    text: str = ""                            # LLVM IR, for -d out_asm
    obj: bytes = b""                          # object code, when the engine keeps it for the disk cache
    hits: int = 0                             # address of its entry counter (0: not counted)
    group: bytes = b""                        # the group of blocks its object holds (b"": only this one)
    recorded: int = 0                         # address of its indirect jump's last target (0: none)


def merge_modules(texts: list[str]) -> str:
    """One module of several block modules' texts: their definitions, each declaration and
    each internal helper (lower_float*.py: named after what it computes) once."""
    head, seen, body = [], set(), []
    for text in texts:
        skipping = False
        for line in text.splitlines():
            if skipping:
                skipping = line != "}"
            elif line.startswith(("target ", "declare ")):
                if line not in seen:
                    seen.add(line)
                    head.append(line)
            elif line.startswith("define internal "):
                skipping = line in seen
                seen.add(line)
                if not skipping:
                    body.append(line)
            else:
                body.append(line)
    return "\n".join(head + body) + "\n"


class LLVMEngine:
    name = "jit"

    def __init__(self, cpu, opt: int = 0, verify: bool = False, hot_threshold: int | None = None,
                 codecache=None):
        """hot_threshold: counted blocks exit HOT after that many entries (regions on);
        codecache: the persistent code cache: each NativeBlock then has its object code, and
        the cache also keeps the runtime helpers' code."""
        self.cpu, self.hot_threshold = cpu, hot_threshold
        self.opt, self.regions = opt, 0
        self.compilers = {}                           # codegen -O level -> jit.Compiler, made on first use
        self.compiler_lock = threading.Lock()         # by either thread (regions compile on a worker's)
        self.cpu_ptr = ctypes.addressof(cpu)
        self.keep_objects = codecache is not None
        runtime = runtime_library(runtime_module_text, codecache)
        self.linker = Linker(parent=runtime.linker)   # blocks' and regions' code, named apart
        runtime.linker.faults.install()
        self.verify = verify
        self.compiled = 0
        self.by_key: dict[bytes, NativeBlock] = {}     # code-cache key -> code already in this engine
        self.groups: set[bytes] = set()                # groups whose object this engine has loaded
        self.miss_fn = self.linker.address("dbt_miss")
        self.enter = ENTER_FN(self.linker.address("dbt_enter"))
        self.jmp_cache = (ctypes.c_uint64 * (2 * JMP_CACHE_ENTRIES))()
        for i in range(JMP_CACHE_ENTRIES):
            self.jmp_cache[2 * i], self.jmp_cache[2 * i + 1] = (1 << 64) - 1, self.miss_fn
        cpu.jmp_cache = ctypes.addressof(self.jmp_cache)

    def compile(self, block: Block, key: bytes | None = None, counted: bool = False) -> NativeBlock:
        """Native code for a block (see compile_many). `counted` (the block cache, with regions
        on): it counts its entries and exits HOT at the threshold, which a caller of execute()
        must then serve; the code cache's configuration holds the threshold, so a keyed block
        is counted or not in every run alike."""
        return self.compile_many([block], counted, [key])[0]

    def compile_many(self, blocks: list[Block], counted: bool = False, keys=None) -> list[NativeBlock]:
        """Native code for several blocks, compiled as one module: LLVM's cost per module is
        half of a small block's (measured: 1.12 ms a block alone, 0.48 ms in a module of 54).

        keys: the blocks' code-cache keys (digests of pc and bytes), all or none None. Keyed
        code is named after its key and, when several share the module's object, after their
        group (a digest of their keys): a block compiled here and the same block in another
        group's object loaded later must not define one name twice. A key this engine has
        compiled or loaded before is reused, counting its entries afresh."""
        from dbt.backend.llvm.lower import lower_block        # only to compile (runtime_module_text)
        keys = keys or [None] * len(blocks)
        threshold = self.hot_threshold if counted else None
        fresh = [(block, key) for block, key in zip(blocks, keys) if key not in self.by_key]
        keyed = [key for _, key in fresh if key is not None]
        group = digest(*keyed) if len(keyed) > 1 else b""
        lowered = []
        for block, key in fresh:
            name = self.fresh_name(block.pc) if key is None else block_symbol(block.pc, key, "tb", group)
            lowered.append((name, key, *lower_block(block, name, threshold)))
        texts = [text for _, _, text, _ in lowered]
        obj = b""
        if texts:
            obj = self.compiler(self.opt).compile(texts[0] if len(texts) == 1 else merge_modules(texts),
                                                  verify=self.verify)
            self.linker.load([obj])
        if group:
            self.groups.add(group)
        codes = iter([self._resolve(name, [target for _, target in slots], text,
                                    obj if key is not None and self.keep_objects else b"", threshold is not None,
                                    group, threshold is not None and indirect(block))
                      for (block, _), (name, key, text, slots) in zip(fresh, lowered)])
        result = []
        for key in keys:
            if key is not None and key in self.by_key:
                result.append(self.recount(self.by_key[key]))
                continue
            code = next(codes)
            if key is not None:
                self.by_key[key] = code
            result.append(code)
        return result

    def fresh_name(self, pc: int) -> str:
        """A function name for a block's code not kept in the code cache: unique in this engine."""
        self.compiled += 1
        return f"tb_{pc:x}_{self.compiled}"

    def load(self, cached: CachedBlock) -> NativeBlock:
        """Native code for a block of the persistent code cache, from its object code."""
        return self.load_many([cached])[0]

    def load_many(self, blocks: list[CachedBlock]) -> list[NativeBlock]:
        """Native code for blocks of the persistent code cache, their objects loaded at once."""
        return self._load(blocks, "tb", counted=self.hot_threshold is not None)

    def _load(self, blocks: list[CachedBlock], prefix: str, counted: bool) -> list[NativeBlock]:
        """Code of the cache loaded (objects at once), or the code of its key this engine
        already has (counting its entries afresh)."""
        fresh = {cached.key: cached for cached in blocks if cached.key not in self.by_key}
        objects = {cached.group or cached.key: cached.obj for cached in fresh.values()
                   if not cached.group or cached.group not in self.groups}
        self.linker.load(list(objects.values()))
        self.groups.update(cached.group for cached in fresh.values() if cached.group)
        for key, cached in fresh.items():
            self.by_key[key] = self._resolve(block_symbol(cached.pc, key, prefix, cached.group), cached.targets,
                                             "", cached.obj, counted, cached.group, counted and cached.indirect)
        return [self.by_key[cached.key] if cached.key in fresh else self.recount(self.by_key[cached.key])
                for cached in blocks]

    @staticmethod
    def recount(code: NativeBlock) -> NativeBlock:
        """Code reused for a block translated again (after invalidation): it counts its entries
        afresh, so that it can head a region again."""
        if code.hits:
            ctypes.c_uint64.from_address(code.hits).value = 0
        return code

    def _resolve(self, name: str, targets, text: str, obj: bytes = b"", counted: bool = False,
                 group: bytes = b"", records: bool = False) -> NativeBlock:
        refs = (ctypes.c_uint64 * (1 + len(targets) + counted + records)).from_address(
            self.linker.address(refs_name(name)))
        fn = refs[0]
        exits = [(refs[1 + i], target) for i, target in enumerate(targets)]
        hits = refs[1 + len(targets)] if counted else 0
        recorded = refs[1 + len(targets) + counted] if records else 0
        return NativeBlock(fn, exits, text, obj, hits, group, recorded)

    def is_warm(self, code: NativeBlock) -> bool:
        """Whether a block ran often enough (an eighth of the hot threshold) to join a region;
        a region's code (not counted) always is."""
        if not code.hits:
            return True
        return self.entries(code) * 8 >= self.hot_threshold

    @staticmethod
    def recorded_target(code: NativeBlock) -> int | None:
        """The target a block's indirect jump last went to, when its code records it."""
        return ctypes.c_uint64.from_address(code.recorded).value or None if code.recorded else None

    @staticmethod
    def entries(code: NativeBlock) -> int:
        """The entries a counted block's code has counted (0 for code that does not count)."""
        return ctypes.c_uint64.from_address(code.hits).value if code.hits else 0

    def compile_region(self, blocks: list[Block], key: bytes | None = None) -> NativeBlock:
        """One function for a region headed by blocks[0], optimised (region.PASSES, codegen -O2).
        With a code-cache key (a digest of its members' keys) it is named after it and a key
        compiled or loaded before is reused, as for blocks. Only ever called on one thread
        (the region worker's, in background mode); `load_region` may run meanwhile on the
        guest's (llvmlite serialises LLVM's calls)."""
        if key in self.by_key:
            return self.by_key[key]
        from dbt.backend.llvm.region import PASSES, lower_region
        self.regions += 1                 # own counter: may run on the region worker thread
        name = f"rg_{blocks[0].pc:x}_{self.regions}" if key is None else block_symbol(blocks[0].pc, key, "rg")
        text, slots = lower_region(blocks, name)
        obj = self.compiler(2).compile(text, verify=self.verify, passes=PASSES)
        self.linker.load([obj])
        code = self._resolve(name, [target for _, target in slots], text, obj if self.keep_objects else b"")
        if key is not None:
            self.by_key[key] = code
        return code

    def load_region(self, cached: CachedBlock) -> NativeBlock:
        """Native code for a region of the persistent code cache, from its object code."""
        return self._load([cached], "rg", counted=False)[0]

    def compiler(self, opt: int):
        """The compiler at codegen -O`opt` (blocks: the engine's level; regions: 2), made on first
        use: LLVM loads then."""
        with self.compiler_lock:
            if opt not in self.compilers:
                from dbt.backend.llvm.jit import Compiler
                self.compilers[opt] = Compiler(opt)
        return self.compilers[opt]

    def execute(self, code: NativeBlock) -> ExitReason:
        return ExitReason(self.enter(code.fn, self.cpu_ptr))

    @staticmethod
    def link(slot: int, code: NativeBlock | None) -> None:
        ctypes.c_void_p.from_address(slot).value = code.fn if code is not None else None

    def _jc_index(self, pc: int) -> int:
        return ((pc >> 12) ^ pc) & (JMP_CACHE_ENTRIES - 1)

    def jc_set(self, pc: int, code: NativeBlock) -> None:
        i = self._jc_index(pc)
        self.jmp_cache[2 * i], self.jmp_cache[2 * i + 1] = pc, code.fn

    def jc_replace(self, pc: int, code: NativeBlock) -> None:
        """Point the jump-cache entry of `pc`, if it holds pc, at `code`: one word written,
        so translated code running meanwhile reads either the old or the new entry point."""
        i = self._jc_index(pc)
        if self.jmp_cache[2 * i] == pc:
            self.jmp_cache[2 * i + 1] = code.fn

    def jc_clear(self, pc: int) -> None:
        i = self._jc_index(pc)
        if self.jmp_cache[2 * i] == pc:
            self.jmp_cache[2 * i], self.jmp_cache[2 * i + 1] = (1 << 64) - 1, self.miss_fn

    def host_assembly(self, code: NativeBlock) -> str:
        return self.compiler(self.opt).host_assembly(code.text)
