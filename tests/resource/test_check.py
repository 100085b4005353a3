"""`dbt run --check`: the JIT and the interpreter in lockstep.

A lifter is broken for the JIT's side only, in the test (that side's translator lifts with
one wrong row of the lifter table): the report must name exactly that instruction and
give, for each register, flag and memory byte that differs, the value the host CPU
computes for the right instruction (interp) and for the wrong one (jit), and nothing
else. Real programs (user mode, and kernels on --machine pc) run clean under --check
with the output and status of their native (or plain) runs.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path
from unittest import mock

import capstone
import capstone.x86_const as X
import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS / "system"))
sys.path.insert(0, str(TESTS / "guest_libc"))
import budgetkit  # noqa: E402
import libcbuild  # noqa: E402
from budgetkit import run_dbt, shell_status  # noqa: E402
from machinekit import boot, build_example_kernels  # noqa: E402
from oracle.harness import default_data, default_regs  # noqa: E402
from oracle.native import CODE_ADDR, CODE_SIZE, DATA_ADDR, DATA_SIZE, GPRS, assemble, run_native  # noqa: E402
from oracle.undefined_flags import STATUS_FLAGS  # noqa: E402

import dbt.frontend.x86.translate as translate_module  # noqa: E402
from dbt.api import Emulator  # noqa: E402
from dbt.cli import main  # noqa: E402
from dbt.frontend.x86.lifters import LIFTERS  # noqa: E402
from dbt.frontend.x86.translate import Translator  # noqa: E402
from dbt.runtime import lockstep  # noqa: E402

DIVERGED = 125
BUDGET_STATUS = 124
ITERATIONS = 3
HEAD = [f"mov ecx, {ITERATIONS}", f"mov rdi, {DATA_ADDR}"]
LOOP = ["lea rbx, [rbx + rcx*2]", "dec ecx", "jnz top"]       # blocks that agree come first
TAIL = ["mov rax, rbx", "imul rax, rax, 3", "mov [rdi + 16], rax"]
AFTER = ["xor edx, edx", "mov [rdi], rax", "add rsi, rax"]
HEADLINE = re.compile(r"dbt: --check: the engines differ at pc (0x[0-9a-f]+) \(([0-9a-f ]+): (.+)\), "
                      r"after (\d+) instructions:")
REGISTER_LINE = re.compile(r"  (\w+): interp (0x[0-9a-f]+), jit (0x[0-9a-f]+)(?: \(.*\))?")
MEMORY_LINE = re.compile(r"  memory (0x[0-9a-f]+)(?:\.\.(0x[0-9a-f]+))?: interp ([0-9a-f ]+), jit ([0-9a-f ]+)")

# (the instruction, the lifter the JIT's side wrongly uses for it, what that lifter lifts)
BROKEN = {
    "register and flags": ("add rax, rsi", X.X86_INS_ADD, X.X86_INS_SUB, "sub rax, rsi"),
    "memory and flags": ("not qword ptr [rdi + 8]", X.X86_INS_NOT, X.X86_INS_NEG, "neg qword ptr [rdi + 8]"),
    "register only": ("bswap rax", X.X86_INS_BSWAP, X.X86_INS_NOT, "not rax"),
}


def broken_translator(insn_id: int, wrong_id: int, min_insns: int):
    """A Translator that lifts insn_id with the lifter of wrong_id (the test's deliberate bug)
    in blocks of at least min_insns instructions."""
    class BrokenTranslator(Translator):
        def translate(self, pc, max_insns=translate_module.MAX_BLOCK_INSNS):
            table = LIFTERS
            wrong = {insn_id: table[wrong_id]} if max_insns >= min_insns else {}
            with mock.patch.dict(table, wrong):
                return super().translate(pc, max_insns)
    return BrokenTranslator


def break_jit_side(checker, insn_id: int, wrong_id: int, min_insns: int = 1) -> None:
    side = checker.jit.tbs
    translator = broken_translator(insn_id, wrong_id, min_insns)(checker.mem.fetch_code, side.translator.system)
    translator.stops = side.translator.stops
    side.translator = translator


def program(middle: str) -> list[str]:
    return [*HEAD, "top: " + LOOP[0], *LOOP[1:], *TAIL, middle]


def parse_differences(lines: list[str]):
    """The report's lines: {register: (interp, jit)}, {address: (interp byte, jit byte)}."""
    registers, memory = {}, {}
    for line in lines:
        reg, mem = REGISTER_LINE.fullmatch(line), MEMORY_LINE.fullmatch(line)
        assert reg or mem, f"unexpected report line: {line!r}"
        if reg:
            registers[reg[1]] = (int(reg[2], 16), int(reg[3], 16))
        else:
            start = int(mem[1], 16)
            for i, (a, b) in enumerate(zip(bytes.fromhex(mem[3]), bytes.fromhex(mem[4]))):
                memory[start + i] = (a, b)
    return registers, memory


def assert_host_differences(lines: list[str], right, wrong) -> None:
    """The report lists exactly what differs between the host's right and wrong runs, with
    the right values as the interpreter's and the wrong ones as the JIT's."""
    registers, memory = parse_differences(lines)
    want = {name: (right.regs[name], wrong.regs[name]) for name in GPRS if right.regs[name] != wrong.regs[name]}
    if (right.rflags ^ wrong.rflags) & STATUS_FLAGS:
        interp_flags, jit_flags = registers.pop("rflags")
        assert (interp_flags & STATUS_FLAGS, jit_flags & STATUS_FLAGS) == \
            (right.rflags & STATUS_FLAGS, wrong.rflags & STATUS_FLAGS)
    assert registers == want
    differing = {DATA_ADDR + i for i in range(DATA_SIZE) if right.data[i] != wrong.data[i]}
    assert differing <= memory.keys()
    for addr, values in memory.items():
        assert values == (right.data[addr - DATA_ADDR], wrong.data[addr - DATA_ADDR])


def host_runs(insn: str, wrong_text: str, after=()):
    """The host CPU's final state for the program with the right and with the wrong instruction."""
    return (run_native(assemble(";".join(program(text) + list(after))), default_regs(), 0x2, default_data())
            for text in (insn, wrong_text))


def run_broken(insn: str, insn_id: int, wrong_id: int, min_insns: int = 1) -> str:
    """The --check report of program(insn) + AFTER with insn lifted wrongly on the JIT's side."""
    regs, data = default_regs(), default_data()
    code = assemble(";".join(program(insn) + AFTER))
    emu = Emulator(engine="interp", code_cache=False)
    emu.map(CODE_ADDR, CODE_SIZE, "rwx")
    emu.map(DATA_ADDR, DATA_SIZE, "rw")
    emu.write(CODE_ADDR, code)
    emu.write(DATA_ADDR, data)
    for name in GPRS:
        emu.reg_write(name, regs[name])
    break_jit_side(lockstep.Lockstep(emu), insn_id, wrong_id, min_insns)
    with pytest.raises(lockstep.EngineDivergence) as raised:
        emu.run(start=CODE_ADDR, until=CODE_ADDR + len(code), max_insns=1000)
    return str(raised.value)


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_broken_lifter_is_named_with_host_values(case):
    insn, insn_id, wrong_id, wrong_text = BROKEN[case]
    head, *lines = run_broken(insn, insn_id, wrong_id).splitlines()
    match = HEADLINE.fullmatch(head)
    assert match, f"unexpected headline: {head!r}"
    pc = CODE_ADDR + len(assemble(";".join(program(insn)[:-1])))
    insn_bytes = assemble(insn, addr=pc)
    decoded = next(capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64).disasm(insn_bytes, pc))
    assert int(match[1], 16) == pc
    assert match[2] == insn_bytes.hex(" ")
    assert match[3] == f"{decoded.mnemonic} {decoded.op_str}"
    assert int(match[4]) == len(HEAD) + ITERATIONS * len(LOOP) + len(TAIL)
    assert_host_differences(lines, *host_runs(insn, wrong_text))


def test_a_block_that_differs_only_as_a_whole_is_reported_so():
    """Wrong only in blocks of several instructions: no single instruction is blamed, and
    the block's differences are given (the host's, for the right and wrong blocks)."""
    insn, insn_id, wrong_id, wrong_text = BROKEN["register only"]
    head, *lines = run_broken(insn, insn_id, wrong_id, min_insns=2).splitlines()
    pc = CODE_ADDR + len(assemble(";".join(program(insn)[:-len(TAIL) - 1])))
    assert head == (f"dbt: --check: the engines differ in the block at pc {pc:#x} "
                    f"({len(TAIL) + 1 + len(AFTER)} instructions, after "
                    f"{len(HEAD) + ITERATIONS * len(LOOP)} instructions), though no single instruction of it does:")
    assert_host_differences(lines, *host_runs(insn, wrong_text, AFTER))


@pytest.fixture(scope="module")
def guests(tmp_path_factory):
    """Static builds of tests/guest_libc programs (musl: a short start-up), and BSWAP_PROGRAM."""
    out = tmp_path_factory.mktemp("check")
    libc = "musl" if shutil.which("musl-gcc") else "glibc"
    try:
        built = {name: libcbuild.build(name, libc, out) for name in ("selfmod", "signals", "hello")}
    except libcbuild.BuildError as e:
        pytest.fail(str(e))
    asm = out / "bswap.S"
    asm.write_text(BSWAP_PROGRAM)
    subprocess.run(["gcc", "-nostdlib", "-static", "-o", str(out / "bswap"), str(asm)], check=True)
    built["bswap"] = out / "bswap"
    return built


VALUE = 0x0102030405060708
BSWAP_PROGRAM = r"""
    .globl _start
_start:
    mov $1, %eax
    mov $1, %edi
    lea msg(%rip), %rsi
    mov $7, %edx
    syscall
    mov $VALUE, %rax
    bswap %rax
    mov %rax, %rdi
    shr $56, %rdi
    mov $60, %eax
    syscall
msg: .ascii "before\n"
""".replace("VALUE", str(VALUE))


@pytest.mark.parametrize("name, args", [("selfmod", ("30",)), ("signals", ("0",))])
def test_real_program_runs_clean_as_natively(guests, name, args):
    """Self-modifying code (stores into translated pages), faults with handlers, signals."""
    native = subprocess.run([str(guests[name]), *args], capture_output=True, timeout=budgetkit.TIMEOUT)
    run = run_dbt(guests[name], args, options=("--check",))
    assert "Traceback" not in run.err and "--check" not in run.err
    assert (run.status, run.out) == (shell_status(native.returncode), native.stdout)


def test_budget_under_check_stops_where_the_interpreter_does(guests):
    """--max-insns N under --check: the last partial block runs in lockstep too."""
    budget = ("--max-insns", "700", "--stats")
    plain = run_dbt(guests["hello"], engine="interp", options=budget)
    checked = run_dbt(guests["hello"], options=("--check", *budget))
    retired = re.compile(r"insns_retired\s+(\d+)")
    assert checked.status == plain.status == BUDGET_STATUS
    assert checked.out == plain.out
    assert retired.search(checked.err)[1] == retired.search(plain.err)[1] == "700"
    stopped = [[line for line in run.err.splitlines() if line.startswith("dbt: instruction budget")]
               for run in (checked, plain)]
    assert stopped[0] == stopped[1] and len(stopped[0]) == 1          # at the same pc


def test_divergence_through_the_command_keeps_output(guests, monkeypatch, capfd):
    """Status 125, the report on stderr, what the guest wrote before is kept; no traceback."""
    class Broken(lockstep.Lockstep):
        def __init__(self, emu, opt=0):
            super().__init__(emu, opt)
            break_jit_side(self, X.X86_INS_BSWAP, X.X86_INS_NOT)

    native = subprocess.run([str(guests["bswap"])], capture_output=True)
    capfd.readouterr()
    assert main(["run", "--check", str(guests["bswap"])]) == native.returncode
    assert capfd.readouterr().out == native.stdout.decode()
    monkeypatch.setattr(lockstep, "Lockstep", Broken)
    assert main(["run", "--check", str(guests["bswap"])]) == DIVERGED
    out, err = capfd.readouterr()
    assert out == native.stdout.decode()
    head, *lines = err.splitlines()
    match = HEADLINE.fullmatch(head)
    assert match and match[3] == "bswap rax", err
    right, wrong = (run_native(assemble(f"mov rax, {VALUE}; {text}"), default_regs(), 0x2, default_data())
                    for text in ("bswap rax", "not rax"))
    assert lines == [f"  rax: interp {right.regs['rax']:#x}, jit {wrong.regs['rax']:#x}"]


def test_check_with_gdb_is_refused():
    run = run_dbt(sys.executable, options=("--check", "-g", "0"))
    assert run.status == 2 and run.one_line() == "dbt: --check and -g cannot be used together"


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    return build_example_kernels(tmp_path_factory.mktemp("kernels"))


@pytest.mark.parametrize("kernel", ["timer", "exceptions"])
def test_pc_kernel_runs_clean(kernels, kernel, tmp_path, capsys):
    """Timer interrupts at deadlines, port I/O, exceptions through the IDT: as the plain run."""
    plain = boot(kernels / f"{kernel}.elf", "jit", tmp_path=tmp_path, capsys=capsys)
    checked = boot(kernels / f"{kernel}.elf", "jit", "--check", tmp_path=tmp_path, capsys=capsys)
    assert checked == plain
