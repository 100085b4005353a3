"""Host faults of translated code (dbt/backend/llvm/host_faults.py): a guest access the host
refuses continues at its exact check; any other SIGSEGV in the process is reported as it
would be without dbt; code that goes away leaves no entry behind."""
import gc
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dbt.api import Emulator
from dbt.backend.llvm.native import _runtime_library, runtime_module_text
from oracle.native import assemble

CODE, DATA = 0x10000, 0x40000
LOOP = """
    mov rcx, 100
again:
    mov rax, [rbx]
    mov byte ptr [rbx + 8], al
    add rbx, 0x1000
    dec rcx
    jnz again
"""


def run_loop(emu: Emulator, pages: int):
    """LOOP over `pages` readable and writable data pages from DATA, then one without access."""
    emu.map(CODE, 0x1000, "rx")
    emu.map(DATA, pages * 0x1000, "rw")
    code = assemble(LOOP, CODE)
    emu.mem.poke(CODE, code)
    emu.reg_write("rbx", DATA)
    return emu.run(start=CODE, until=CODE + len(code), max_insns=10_000)


def test_an_access_the_host_refuses_is_the_guest_fault_of_its_exact_check():
    """The loop's 9th load reads an unmapped page: native code reaches it by the host's
    fault, the interpreter by its own check; both stop there alike."""
    stops = {}
    for engine in ("jit", "interp"):
        emu = Emulator(engine=engine)
        try:
            stop = run_loop(emu, 8)
            stops[engine] = (stop.reason, emu.reg_read("rbx"), emu.reg_read("rcx"), emu.reg_read("rip"))
        finally:
            emu.mem.close()
    assert stops["jit"] == stops["interp"]
    assert stops["jit"][:3] == ("fault", DATA + 8 * 0x1000, 100 - 8)


@pytest.mark.parametrize("crash", ["ctypes.string_at(8)", "os.kill(os.getpid(), signal.SIGSEGV)"])
def test_a_sigsegv_elsewhere_in_the_process_is_reported_as_without_dbt(crash):
    """After translated code ran (so the handler is installed), a bad pointer of the host
    process itself, or a SIGSEGV sent to it, kills it with SIGSEGV, or lets faulthandler
    report it."""
    script = textwrap.dedent(f"""
        import ctypes, os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_host_faults import run_loop
        from dbt.api import Emulator
        emu = Emulator(engine="jit")
        assert run_loop(emu, 8).reason == "fault"
        print("ran", flush=True)
        {crash}
        print("survived", flush=True)
    """)
    plain = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert plain.stdout == "ran\n" and plain.returncode == -11, plain.stderr
    reported = subprocess.run([sys.executable, "-X", "faulthandler", "-c", script], capture_output=True,
                              text=True, timeout=120)
    assert reported.returncode == -11 and "Fatal Python error: Segmentation fault" in reported.stderr


def test_the_fault_table_forgets_the_code_of_an_engine_that_is_gone():
    table = _runtime_library(runtime_module_text).linker.faults
    emu = Emulator(engine="jit", regions="off")
    run_loop(emu, 100)
    arenas = [(a.base, a.base + 2 * a.half) for a in emu.engine.linker.arenas]
    mine = [pc for pc in table.checks if any(start <= pc < end for start, end in arenas)]
    assert mine, "the loop's loads and stores have entries"
    emu.mem.close()
    del emu
    gc.collect()
    assert not [pc for pc in table.checks if any(start <= pc < end for start, end in arenas)]
