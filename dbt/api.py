"""The Python API: an emulator you load code into, set registers on, and run.

    emu = Emulator(engine="jit")
    emu.map(0x1000, 0x1000, "rwx"); emu.write(0x1000, code)
    emu.reg_write("rax", 5)
    info = emu.run(start=0x1000, until=0x1000 + len(code))
    emu.reg_read("rax"), emu.rflags

Both engines share everything but the backend; the oracle tests, the CLI and
the Linux loader all drive the engine through this class.
"""
from dbt.backend.interp import compute_cc_all
from dbt.backend.interp_engine import InterpEngine
from dbt.frontend.x86.translate import Translator
from dbt.runtime.cpu import ARITH_FLAGS, DF, FLAGS_FIXED, GPR_NAMES, new_cpu
from dbt.runtime.executor import Executor, Services, Stop
from dbt.runtime.memory import DEFAULT_SPACE, PAGE_MASK, GuestMemory
from dbt.runtime.regions import background, hot_threshold
from dbt.runtime.stats import Stats
from dbt.runtime.tb import TBCache

ENGINES = ("jit", "interp")
REG_NAMES = GPR_NAMES + ("rip", "fs_base", "gs_base")


def make_engine(name: str, cpu, mem, opt: int = 0, regions: str | None = None):
    """An engine; `regions` (off|on|always, default $DBT_REGIONS or on) matters to the jit only."""
    threshold = hot_threshold(regions)
    if name == "interp":
        return InterpEngine(cpu, mem)
    if name == "jit":
        from dbt.backend.llvm.native import LLVMEngine     # llvmlite loads only when used
        return LLVMEngine(cpu, opt=opt, hot_threshold=threshold)
    raise ValueError(f"unknown engine {name!r} (choose from {', '.join(ENGINES)})")


class Emulator:
    def __init__(self, engine: str = "jit", memory_size: int = DEFAULT_SPACE,
                 services: Services | None = None, trace=None, opt: int = 0, system: bool = False,
                 regions: str | None = None):
        self.cpu = new_cpu()
        self.mem = GuestMemory(memory_size)
        self.cpu.mem_base, self.cpu.mem_perms, self.cpu.mem_pages = self.mem.base, self.mem.perms_addr, self.mem.npages
        self.stats = Stats()
        self.engine = make_engine(engine, self.cpu, self.mem, opt, regions)
        self.translator = Translator(self.mem.fetch_code, system)
        self.tbs = TBCache(self.translator, self.engine, self.mem, self.stats, trace,
                           background=engine == "jit" and background(regions))
        self.executor = Executor(self.cpu, self.mem, self.engine, self.tbs, self.stats, services)

    # -- memory ---------------------------------------------------------------
    def map(self, addr: int, size: int, perms: str = "rwx") -> None:
        self.mem.map(addr, (size + PAGE_MASK) & ~PAGE_MASK, perms)

    def write(self, addr: int, data: bytes) -> None:
        self.mem.poke(addr, data)

    def read(self, addr: int, size: int) -> bytes:
        return self.mem.peek(addr, size)

    # -- registers --------------------------------------------------------------
    def reg_read(self, name: str) -> int:
        if name not in REG_NAMES:
            raise KeyError(f"unknown register {name!r}")
        return getattr(self.cpu, name)

    def reg_write(self, name: str, value: int) -> None:
        if name not in REG_NAMES:
            raise KeyError(f"unknown register {name!r}")
        setattr(self.cpu, name, value & ((1 << 64) - 1))

    @property
    def rflags(self) -> int:
        cpu = self.cpu
        arith = compute_cc_all(cpu.cc_op, cpu.cc_dst, cpu.cc_src, cpu.cc_src2)
        return arith | (DF if cpu.df else 0) | cpu.eflags | FLAGS_FIXED

    @rflags.setter
    def rflags(self, value: int) -> None:
        cpu = self.cpu
        cpu.cc_op, cpu.cc_src = 0, value & ARITH_FLAGS
        cpu.df = 1 if value & DF else 0
        cpu.eflags = (value & ~(ARITH_FLAGS | DF)) | FLAGS_FIXED

    # -- running ----------------------------------------------------------------
    def run(self, start: int | None = None, until: int | None = None, max_insns: int | None = None) -> Stop:
        """Run from `start` (default: rip) until `until`, an exit, or `max_insns` more instructions."""
        cpu = self.cpu
        if start is not None:
            cpu.rip = start
        cpu.budget = (1 << 64) - 1 if max_insns is None else cpu.icount + max_insns
        if until is not None:
            self.set_stop(until)
        try:
            return self.executor.run()
        finally:
            if until is not None:
                self.clear_stop(until)

    def set_stop(self, addr: int) -> None:
        """Make `addr` a stop point: blocks end before it and arriving there ends the run."""
        self.translator.stops.add(addr)
        for tb in [tb for tb in self.tbs.blocks.values() if tb.covers(addr)]:
            self.tbs.remove(tb)

    def clear_stop(self, addr: int) -> None:
        self.translator.stops.discard(addr)
        tb = self.tbs.blocks.get(addr)
        if tb is not None:
            self.tbs.remove(tb)
