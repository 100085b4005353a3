"""The only module that calls llvmlite.binding: LLVM's target setup, and IR text compiled to object code.

The objects it makes are loaded by `linker.py` (no LLVM), so a run the code
cache serves entirely never imports this module (codecache.compiler_identity
names what the code depends on without it).
"""
import functools

from llvmlite import binding as llvm


@functools.lru_cache(maxsize=None)
def _initialise() -> str:
    """Initialise LLVM once per process; returns the datalayout."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    llvm.initialize_native_asmparser()     # without it, inline asm aborts the process
    return str(_target_machine(0).target_data)


def _target_machine(opt: int):
    """Generic x86-64 code (no host CPU features), large code model: objects `linker.py` can place
    anywhere."""
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(opt=opt, codemodel="large")


class Compiler:
    """Compiles LLVM IR module text to relocatable object code at one codegen -O level."""

    def __init__(self, opt: int = 0):
        self.datalayout = _initialise()
        self.target_machine = _target_machine(opt)
        self.compiled = 0                         # modules compiled

    def compile(self, text: str, verify: bool = False, passes: int | tuple[str, ...] = 0) -> bytes:
        """Parse, optionally verify and optimise, and compile a module to object code.
        passes: an -O level for LLVM's IR pipeline (0: none), or the names of the passes to
        run in order (llvmlite's `add_<name>_pass`)."""
        module = llvm.parse_assembly(text.replace("{datalayout}", self.datalayout))
        if verify:
            module.verify()
        if passes:
            level = passes if isinstance(passes, int) else 2
            builder = llvm.create_pass_builder(self.target_machine, llvm.create_pipeline_tuning_options(level))
            manager = builder.getModulePassManager() if isinstance(passes, int) else self.pipeline(passes)
            manager.run(module, builder)
        self.compiled += 1
        return self.target_machine.emit_object(module)

    @staticmethod
    def pipeline(names: tuple[str, ...]):
        manager = llvm.create_new_module_pass_manager()
        for name in names:
            getattr(manager, f"add_{name}_pass")()
        return manager

    def host_assembly(self, text: str) -> str:
        """Host assembly LLVM generates for a module (for -d out_asm)."""
        module = llvm.parse_assembly(text.replace("{datalayout}", self.datalayout))
        return self.target_machine.emit_assembly(module)
