"""The only module that calls llvmlite.binding: target setup, MCJIT engine, symbols.

One `JIT` per emulator. Modules are added one at a time and finalised at
once; their functions and globals are looked up by name. libgcc's 128-bit
division routines are registered before any module is added (an undefined
symbol aborts the process in finalize_object).
"""
import ctypes
import ctypes.util
import functools

import llvmlite
from llvmlite import binding as llvm


@functools.lru_cache(maxsize=None)
def _initialise() -> str:
    """Initialise LLVM and register libgcc's symbols once per process; returns the datalayout."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    llvm.initialize_native_asmparser()     # without it, inline asm aborts the process
    try:
        libgcc = ctypes.CDLL("libgcc_s.so.1")
    except OSError:       # find_library runs a compiler or ldconfig: only when the usual name fails
        libgcc = ctypes.CDLL(ctypes.util.find_library("gcc_s"))
    for name in ("__udivti3", "__umodti3", "__divti3", "__modti3"):
        llvm.add_symbol(name, ctypes.cast(getattr(libgcc, name), ctypes.c_void_p).value)
    return str(_target_machine(0).target_data)


@functools.lru_cache(maxsize=None)
def _runtime_engine(text_of, names: tuple[str, ...]) -> "JIT":
    """The process's engine for the runtime helpers of module text_of(), empty until
    runtime_library fills it."""
    return JIT(0, keep_objects=True)


def runtime_library(text_of, names: tuple[str, ...], store=None) -> "JIT":
    """The runtime helpers (module text_of()), compiled once per process and published as symbols.

    Every block module declares them; the engine that owns them lives as long
    as the process, so their code is never freed under a caller. With `store`
    (the persistent code cache) the first use loads their object code from it,
    and a store without it is given it: making the text and compiling it took
    ~35 ms of a 0.2 s warm run.
    """
    library = _runtime_engine(text_of, names)
    if not library.last_object:                 # first use in this process
        cached = store.runtime_object() if store is not None else None
        if cached is not None:
            library.add_object(cached)
            library.last_object = cached        # the object it runs, for later stores
        else:
            library.add(text_of(), verify=True)
        for name in names:
            llvm.add_symbol(name, library.function(name))
    if store is not None and store.runtime_object() is None:
        store.keep_runtime_object(library.last_object)
    return library


def _target_machine(opt: int):
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(opt=opt, codemodel="jitdefault", jit=True)


def host_identity() -> str:
    """What the machine code LLVM emits here depends on: llvmlite and LLVM, the target and host CPU."""
    _initialise()
    version = ".".join(map(str, llvm.llvm_version_info))
    return (f"llvmlite={llvmlite.__version__} llvm={version} triple={llvm.get_process_triple()} "
            f"cpu={llvm.get_host_cpu_name()}")


class JIT:
    """keep_objects: `add` compiles to object code itself, loads that and keeps it in `last_object`
    (for the disk cache). llvmlite's object-cache hook would do the same at a cost that grows with
    the number of modules in the engine."""

    def __init__(self, opt: int = 0, keep_objects: bool = False):
        self.datalayout = _initialise()
        self.target_machine = _target_machine(opt)
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), self.target_machine)
        self.modules = []
        self.keep_objects = keep_objects
        self.last_object = b""

    def add(self, text: str, verify: bool = False, passes: int | tuple[str, ...] = 0) -> None:
        """Parse, optionally verify and optimise, compile and finalise (through object code kept
        in `last_object` with keep_objects). passes: an -O level for LLVM's IR pipeline (0: none),
        or the names of the passes to run in order (llvmlite's `add_<name>_pass`)."""
        module = llvm.parse_assembly(text.replace("{datalayout}", self.datalayout))
        if verify:
            module.verify()
        if passes:
            level = passes if isinstance(passes, int) else 2
            builder = llvm.create_pass_builder(self.target_machine, llvm.create_pipeline_tuning_options(level))
            manager = builder.getModulePassManager() if isinstance(passes, int) else self.pipeline(passes)
            manager.run(module, builder)
        if self.keep_objects:
            self.last_object = self.target_machine.emit_object(module)
            self.add_object(self.last_object)
            return
        self.engine.add_module(module)
        self.engine.finalize_object()
        self.modules.append(module)

    @staticmethod
    def pipeline(names: tuple[str, ...]):
        manager = llvm.create_new_module_pass_manager()
        for name in names:
            getattr(manager, f"add_{name}_pass")()
        return manager

    def add_object(self, data: bytes) -> None:
        """Load relocatable object code that an earlier `add` produced (in this or another process)."""
        self.add_objects([data])

    def add_objects(self, objects: list[bytes]) -> None:
        """Load several objects, finalised at once: their code shares pages (measured: the
        935 blocks of a cached sieve start-up load in 27 ms a page at a time, 48 ms one by one)."""
        for data in objects:
            self.engine.add_object_file(llvm.ObjectFileRef.from_data(data))
        if objects:
            self.engine.finalize_object()

    def function(self, name: str) -> int:
        address = self.engine.get_function_address(name)
        if not address:
            raise KeyError(f"JIT has no function {name}")
        return address

    def global_address(self, name: str) -> int:
        address = self.engine.get_global_value_address(name)
        if not address:
            raise KeyError(f"JIT has no global {name}")
        return address

    def host_assembly(self, text: str) -> str:
        """Host assembly LLVM generates for a module (for -d out_asm); compiles it separately."""
        module = llvm.parse_assembly(text.replace("{datalayout}", self.datalayout))
        return self.target_machine.emit_assembly(module)
