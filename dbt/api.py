"""The Python API: an emulator you load code into, set registers on, hook, and run.

    emu = Emulator(engine="jit")                  # or Emulator.linux("./prog", ["prog"])
    emu.map(0x1000, 0x1000, "rwx"); emu.write(0x1000, code)
    emu.reg_write("rax", 5)
    emu.hook_block(lambda emu, pc, size: print(hex(pc)), 0x1000)
    stop = emu.run(start=0x1000, until=0x1000 + len(code))
    emu.reg_read("rax"), emu.rflags

Both engines share everything but the backend; the oracle tests, the CLI and
the Linux loader all drive the engine through this class. Hooks (hooks.py)
cost nothing in code they do not touch.
"""
from dbt.backend.interp import compute_cc_all
from dbt.backend.interp_engine import InterpEngine
from dbt.backend.llvm.codecache import CodeCache, choose_directory, compiler_identity
from dbt.frontend.x86 import decoder_version
from dbt.frontend.x86.translate import Translator
from dbt.runtime.cpu import ARITH_FLAGS, DF, FLAGS_FIXED, GPR_NAMES, new_cpu
from dbt.runtime.executor import Executor, Services, Stop
from dbt.runtime.hooks import Hook, Hooks
from dbt.runtime.memory import DEFAULT_SPACE, PAGE_MASK, GuestMemory
from dbt.runtime.regions import background, hot_threshold
from dbt.runtime.stats import Stats
from dbt.runtime.tb import TBCache
from dbt.runtime.trace import traces_blocks

ENGINES = ("jit", "interp")
REG_NAMES = GPR_NAMES + ("rip", "fs_base", "gs_base", "mxcsr")
XMM_NAMES = tuple(f"xmm{i}" for i in range(16))
U64 = (1 << 64) - 1


def make_engine(name: str, cpu, mem, opt: int = 0, regions: str | None = None, codecache=None):
    """An engine; `regions` (off|on|background|always, default $DBT_REGIONS or on) matters to the
    jit only, as does `codecache` (the persistent code cache: object code is kept for it)."""
    threshold = hot_threshold(regions)
    if name == "interp":
        return InterpEngine(cpu, mem)
    if name == "jit":
        from dbt.backend.llvm.native import LLVMEngine     # llvmlite loads only when used
        return LLVMEngine(cpu, opt=opt, hot_threshold=threshold, codecache=codecache)
    raise ValueError(f"unknown engine {name!r} (choose from {', '.join(ENGINES)})")


def open_code_cache(directory: str, opt: int, system: bool, regions: str | None = None):
    """The JIT's persistent code cache in `directory`, for code built with these options
    (blocks count their entries for hot regions up to a threshold that is part of their code)."""
    config = f"opt={opt} system={int(system)} passes=1 hot={hot_threshold(regions)} {decoder_version()}"
    return CodeCache(directory, config, compiler_identity())


def rflags_of(cpu) -> int:
    """The architectural RFLAGS of a CPUState: the lazy arithmetic flags materialised."""
    arith = compute_cc_all(cpu.cc_op, cpu.cc_dst, cpu.cc_src, cpu.cc_src2)
    return arith | (DF if cpu.df else 0) | cpu.eflags | FLAGS_FIXED


class Emulator:
    """code_cache: a directory for the JIT's persistent code cache, False for none, or None to let
    DBT_CACHE decide (on: the default directory; unset or off: none). -d tracing turns it off.
    jit_after: the jit interprets a new block until its jit_after-th run (tier 0,
    dbt/runtime/tiers.py); 1 (the default) compiles it at once, as -d in_asm/op/out_asm does."""

    def __init__(self, engine: str = "jit", memory_size: int = DEFAULT_SPACE,
                 services: Services | None = None, trace=None, opt: int = 0, system: bool = False,
                 code_cache: str | bool | None = None, regions: str | None = None, jit_after: int = 1):
        self.cpu = new_cpu()
        self.mem = GuestMemory(memory_size)
        self.cpu.mem_base, self.cpu.mem_perms, self.cpu.mem_pages = self.mem.base, self.mem.perms_addr, self.mem.npages
        self.stats = Stats()
        directory = choose_directory(code_cache) if engine == "jit" and trace is None else None
        self.codecache = None if directory is None else open_code_cache(directory, opt, system, regions)
        self.engine = make_engine(engine, self.cpu, self.mem, opt, regions=regions, codecache=self.codecache)
        self.translator = Translator(self.mem.fetch_code, system)
        self.tbs = TBCache(self.translator, self.engine, self.mem, self.stats, trace, codecache=self.codecache,
                           background=engine == "jit" and background(regions),
                           jit_after=jit_after if engine == "jit" and not traces_blocks(trace) else 1)
        self.executor = Executor(self.cpu, self.mem, self.engine, self.tbs, self.stats, services)
        self.trace, self.process = trace, None
        self.hooks = Hooks(self)
        self.executor.hooks = self.hooks
        if trace is not None and trace.wants("int") and not system:
            self.executor.trace = trace         # the pc machine logs in interrupts.py
        if trace is not None and trace.wants("exec"):
            self.hook_block(trace.exec_block)

    @classmethod
    def linux(cls, path: str, argv: list[str] | None = None, env: dict[str, str] | None = None,
              engine: str = "jit", **options) -> "Emulator":
        """An emulator holding a static x86-64 Linux program, ready at its entry point:
        `run()` runs it until it exits (Stop 'exit' with its status) or a stop or hook ends
        the run. `emu.process` is the LinuxProcess (syscalls, files, signals).
        options: those of LinuxProcess (root=, strace=, trace=, opt=)."""
        from dbt.runtime.linux.process import LinuxProcess     # it builds on this module
        process = LinuxProcess(path, argv or [path], env={} if env is None else env, engine=engine, **options)
        process.emu.process = process
        return process.emu

    # -- memory ---------------------------------------------------------------
    def map(self, addr: int, size: int, perms: str = "rwx") -> None:
        self.mem.map(addr, (size + PAGE_MASK) & ~PAGE_MASK, perms)

    def write(self, addr: int, data: bytes) -> None:
        self.mem.poke(addr, data)

    def read(self, addr: int, size: int) -> bytes:
        return self.mem.peek(addr, size)

    # -- registers --------------------------------------------------------------
    def reg_read(self, name: str) -> int:
        """A register by name: the GPRs, rip, rflags, fs_base, gs_base, mxcsr, xmm0-15 (128 bits)."""
        if name == "rflags":
            return self.rflags
        if name in XMM_NAMES:
            i = 2 * int(name[3:])
            return self.cpu.xmm[i] | (self.cpu.xmm[i + 1] << 64)
        if name not in REG_NAMES:
            raise KeyError(f"unknown register {name!r}")
        return getattr(self.cpu, name)

    def reg_write(self, name: str, value: int) -> None:
        if name == "rflags":
            self.rflags = value
        elif name in XMM_NAMES:
            i = 2 * int(name[3:])
            self.cpu.xmm[i], self.cpu.xmm[i + 1] = value & U64, (value >> 64) & U64
        elif name in REG_NAMES:
            setattr(self.cpu, name, value & U64)
        else:
            raise KeyError(f"unknown register {name!r}")

    @property
    def rflags(self) -> int:
        return rflags_of(self.cpu)

    @rflags.setter
    def rflags(self, value: int) -> None:
        cpu = self.cpu
        cpu.cc_op, cpu.cc_src = 0, value & ARITH_FLAGS
        cpu.df = 1 if value & DF else 0
        cpu.eflags = (value & ~(ARITH_FLAGS | DF)) | FLAGS_FIXED

    # -- running ----------------------------------------------------------------
    def run(self, start: int | None = None, until: int | None = None, max_insns: int | None = None) -> Stop:
        """Run from `start` (default: rip) until `until`, an exit, `max_insns` more instructions,
        or a hook's `stop()`. The Stop's reason says which ('until', 'exit', 'budget', 'stopped', ...)."""
        self.hooks.stop_requested = False
        cpu = self.cpu
        if start is not None:
            cpu.rip = start
        cpu.set_budget((1 << 64) - 1 if max_insns is None else cpu.icount + max_insns)
        if until is not None:
            self.set_stop(until)
        try:
            return self.executor.run()
        finally:
            if until is not None:
                self.clear_stop(until)

    def stop(self) -> None:
        """From a hook: end the run after this hook (the Stop's reason is 'stopped')."""
        self.hooks.stop_requested = True

    def set_stop(self, addr: int) -> None:
        """Make `addr` a stop point: blocks end before it and arriving there ends the run."""
        self.translator.stops.add_until(addr)
        self.tbs.drop(addr, addr + 1)       # blocks and regions whose code holds addr

    def clear_stop(self, addr: int) -> None:
        if self.translator.stops.discard_until(addr):
            self.tbs.drop(addr, addr + 1)

    # -- hooks (dbt/runtime/hooks.py) -----------------------------------------------------
    def hook_block(self, fn, begin: int | None = None, end: int | None = None) -> Hook:
        """fn(emu, pc, size) before each block runs that starts at `begin` (no `end`), in
        [begin, end), or anywhere (neither). Only those blocks leave translated code."""
        return self.hooks.add("block", fn, begin, end)

    def hook_mem(self, fn, begin: int, end: int, access: str = "rw") -> list[Hook]:
        """Memory hooks on [begin, end); access: some of 'r' (loads), 'w' (stores), 'x' (fetch:
        each instruction that starts there). fn(emu, kind, addr, size, value), kind 'read'
        (after the load; value loaded), 'write' (before the store; value to store) or 'fetch'
        (before the instruction; value None). A non-None result replaces a read or written value."""
        unknown = set(access) - set("rwx")
        if unknown or not access:
            raise ValueError(f"access must be some of 'rwx', got {access!r}")
        kinds = [kind for letter, kind in (("r", "read"), ("w", "write"), ("x", "fetch")) if letter in access]
        return [self.hooks.add(kind, fn, begin, end) for kind in kinds]

    def hook_syscall(self, fn, after: bool = False) -> Hook:
        """fn(emu, call) at each syscall, before it (may change call.number/args, or
        call.skip(value)) or after it (may change call.result). See hooks.Syscall."""
        return self.hooks.add("syscall_after" if after else "syscall", fn)

    def remove_hook(self, hook: Hook | list[Hook]) -> None:
        for one in hook if isinstance(hook, list) else [hook]:
            self.hooks.remove(one)
