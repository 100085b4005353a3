"""Engine benchmarks (pytest-benchmark): guest instructions per second under each engine,
translation cost per block, chained block transfers (direct jumps, and call/ret through
the jump cache), and dispatch (a round trip through the Python executor loop per exit).

Run: python -m pytest benchmarks --benchmark-only --benchmark-columns=median,rounds
Figures that matter are ratios in one run (jit vs interp); `extra_info` holds
the guest instructions per second each case measured.
"""
import keystone
import pytest

from dbt.api import Emulator
from dbt.backend.interp import evaluate
from dbt.frontend.x86.translate import Translator
from dbt.ir.passes import optimize
from dbt.runtime.executor import Services

CODE, DATA = 0x10000, 0x100000

HOT_LOOP = """
    mov ecx, {n}
top:
    mov rax, rcx
    imul rax, rax
    add rbx, rax
    xor rbx, rcx
    shr rax, 3
    sub rdx, rax
    dec ecx
    jnz top
"""
INSNS_PER_ITER = 8

CALL_LOOP = """
    mov ecx, {n}
top:
    call f
    dec ecx
    jnz top
    jmp done
f:
    add rax, rcx
    ret
done:
"""


JUMP_BLOCKS = 8
JUMP_CHAIN = "    mov ecx, {n}\ntop:\n" + "".join(f"    jmp b{i}\n    nop\nb{i}:\n" for i in range(JUMP_BLOCKS)) + """
    dec ecx
    jnz top
"""

SYSCALL_LOOP = """
    mov ecx, {n}
top:
    syscall
    dec ecx
    jnz top
"""


class ResumeAfterSyscall(Services):
    """Each syscall exit returns to the executor loop, which goes straight back in."""

    def syscall(self, executor):
        return None


def assemble(asm: str, addr: int = CODE) -> bytes:
    return bytes(keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_64).asm(asm, addr)[0])


def loaded(engine: str, code: bytes, services: Services | None = None) -> Emulator:
    emu = Emulator(engine, services=services)
    emu.map(CODE, 0x10000, "rwx")
    emu.map(DATA, 0x10000, "rw")
    emu.write(CODE, code)
    return emu


def run_once(emu: Emulator, code: bytes) -> int:
    before = emu.cpu.icount
    emu.reg_write("rsp", DATA + 0x8000)
    stop = emu.run(CODE, until=CODE + len(code))
    assert stop.reason == "until", stop
    return emu.cpu.icount - before


@pytest.mark.parametrize("engine, iterations", [("jit", 2_000_000), ("interp", 20_000)])
def test_guest_instructions_per_second(benchmark, record_rate, engine, iterations):
    """The same hot loop under each engine (interp at a smaller count, compared per instruction)."""
    code = assemble(HOT_LOOP.format(n=iterations))
    emu = loaded(engine, code)
    run_once(emu, code)                     # translate and compile outside the timing
    insns = benchmark(run_once, emu, code)
    assert insns == 1 + INSNS_PER_ITER * iterations
    record_rate("guest_insns_per_second", insns)


def counted(emu: Emulator, code: bytes, counter) -> int:
    """One run; how much counter(emu) went up."""
    before = counter(emu)
    run_once(emu, code)
    return counter(emu) - before


def chain_count(emu: Emulator) -> int:
    return emu.cpu.chain_count


def syscall_exits(emu: Emulator) -> int:
    return emu.stats.counters["exit_syscall"]


@pytest.mark.parametrize("loop, iterations, transfers_per_iteration", [
    (JUMP_CHAIN, 500_000, JUMP_BLOCKS),      # one-instruction blocks joined by direct jumps
    (CALL_LOOP, 1_000_000, 2),               # call, and ret through the jump cache
], ids=["direct-jumps", "call-ret"])
def test_chained_transfers(benchmark, record_rate, loop, iterations, transfers_per_iteration):
    """Block-to-block transfers that stay in native code (patched chains or the jump cache)."""
    code = assemble(loop.format(n=iterations))
    emu = loaded("jit", code)
    run_once(emu, code)
    transfers = benchmark(counted, emu, code, chain_count)
    assert transfers >= transfers_per_iteration * iterations       # none went through Python
    record_rate("chained_transfers_per_second", transfers)


@pytest.mark.parametrize("engine, iterations", [("jit", 100_000), ("interp", 10_000)])
def test_dispatch_per_exit(benchmark, record_rate, engine, iterations):
    """A syscall per iteration: each leaves translated code for the executor loop and comes back."""
    code = assemble(SYSCALL_LOOP.format(n=iterations))
    emu = loaded(engine, code, ResumeAfterSyscall())
    run_once(emu, code)
    exits = benchmark(counted, emu, code, syscall_exits)
    assert exits == iterations
    record_rate("exits_per_second", exits)


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_translation_cost_per_block(benchmark, engine):
    """Decode + lift + IR passes + backend compile of one 8-instruction block."""
    code = assemble(HOT_LOOP.format(n=10))
    emu = loaded(engine, code)
    translator = Translator(emu.mem.fetch_code)
    block_pc = CODE + 5                      # the loop body

    def translate_and_compile():
        block = translator.translate(block_pc)
        optimize(block, evaluate)
        return emu.engine.compile(block)

    benchmark(translate_and_compile)
