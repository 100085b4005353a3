"""Privileged instructions (dbt/frontend/x86/sem_privileged.py).

User mode: the host cannot run these instructions for us to compare, but it
can fault on them. A small static program (built here with gcc) runs each
one natively under a SIGSEGV/SIGILL/SIGTRAP handler that reports the trap
number and the faulting RIP; dbt in user mode must raise the same vector at
the same instruction. Instructions that do not fault at CPL 3 (sidt, sgdt,
smsw under Linux's UMIP emulation; iretq to user selectors) are compared
with the host through the oracle harness.

System mode: each instruction must leave translated code with the fields
the exit protocol of dbt/ir/exits.py documents, which a recording Services
stub captures.
"""
import shutil
import struct
import subprocess

import pytest

from dbt.api import Emulator
from dbt.frontend.x86.sem_privileged import USER_CR0, USER_GDT_BASE, USER_IDT_BASE
from dbt.ir.exits import Helper, IOFlag, SOFTWARE_INTERRUPT, Vector
from dbt.runtime.executor import Services, Stop
from dbt.runtime.linux.process import SIGNAL_OF_VECTOR

from .harness import check
from .native import CODE_ADDR, DATA_ADDR, assemble

ENGINES = ("jit", "interp")

# Each runs at CPL 3 with rsi = rdi = a writable buffer and rdx = 0.
USER_FAULTS = {
    "in_dx": "in al, dx",
    "in_imm": "in eax, 0x80",
    "out_dx": "out dx, ax",
    "out_imm": "out 0x80, al",
    "insb": "insb",
    "rep_outsd": "rep outsd",
    "cli": "cli",
    "sti": "sti",
    "hlt": "hlt",
    "lidt": "lidt [rsi]",
    "lgdt": "lgdt [rsi]",
    "mov_from_cr0": "mov rax, cr0",
    "mov_to_cr3": "mov cr3, rax",
    "mov_from_cr2": "mov rbx, cr2",
    "invlpg": "invlpg [rsi]",
    "wbinvd": "wbinvd",
    "invd": "invd",
    "rdmsr": "rdmsr",
    "wrmsr": "wrmsr",
    "int_0x81": "int 0x81",
    "int_3": "int 3",
    "iretq_bad_frame": "push 0; push 0; push 0; push 0; push 0; iretq",
}

# The host's own view of a fault: the handler writes signo, trapno, error code and
# the RIP offset from the start of the case, as four u64, then exits.
PROBE_HEAD = """
.intel_syntax noprefix
.globl _start
_start:
    lea r12, [rip + signals]
1:  movzx edi, byte ptr [r12]
    test edi, edi
    jz 2f
    mov eax, 13                     /* rt_sigaction(sig, &act, NULL, 8) */
    lea rsi, [rip + act]
    xor edx, edx
    mov r10d, 8
    syscall
    inc r12
    jmp 1b
2:  mov rax, [rsp + 16]             /* argv[1][0] - 'a' picks the case */
    movzx eax, byte ptr [rax]
    sub eax, 'a'
    lea rcx, [rip + cases]
    mov rax, [rcx + rax * 8]
    mov [rip + current], rax
    lea rsi, [rip + buffer]
    mov rdi, rsi
    xor edx, edx
    jmp rax
done:
    mov eax, 60
    xor edi, edi
    syscall
handler:                            /* rdi = signo, rdx = ucontext; gregs start at +40 */
    lea r8, [rip + report]
    mov [r8], rdi
    mov rax, [rdx + 40 + 20 * 8]
    mov [r8 + 8], rax
    mov rax, [rdx + 40 + 19 * 8]
    mov [r8 + 16], rax
    mov rax, [rdx + 40 + 16 * 8]
    sub rax, [rip + current]
    mov [r8 + 24], rax
    mov eax, 1
    mov edi, 1
    mov rsi, r8
    mov edx, 32
    syscall
    jmp done
"""
PROBE_DATA = """
.data
signals: .byte 4, 5, 7, 11, 0
.balign 8
act: .quad handler, 0x04000004, done, 0   /* SA_SIGINFO | SA_RESTORER (never used: the handler exits) */
current: .quad 0
report: .zero 32
buffer: .zero 64
"""


@pytest.fixture(scope="module")
def host_faults(tmp_path_factory):
    """Map case name to (signo, trapno, error code, rip offset) on the host, or None."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is required to build the host probe")
    names = list(USER_FAULTS)
    body = [PROBE_HEAD]
    for i, name in enumerate(names):
        body.append(f"case{i}:\n    " + "\n    ".join(USER_FAULTS[name].split("; ")) + "\n    jmp done\n")
    body.append(PROBE_DATA + "cases: .quad " + ", ".join(f"case{i}" for i in range(len(names))) + "\n")
    outdir = tmp_path_factory.mktemp("probe")
    src, exe = outdir / "probe.S", outdir / "probe"
    src.write_text("".join(body))
    proc = subprocess.run([gcc, "-nostdlib", "-static", "-o", str(exe), str(src)], capture_output=True, text=True)
    if proc.returncode:
        pytest.fail(f"building the host probe failed:\n{proc.stderr}")
    result = {}
    for i, name in enumerate(names):
        run = subprocess.run([str(exe), chr(ord("a") + i)], capture_output=True, timeout=10)
        assert run.returncode == 0, (name, run.returncode)
        result[name] = struct.unpack("<4Q", run.stdout) if run.stdout else None
    return result


def user_emulator(engine: str, code: bytes, system: bool = False, services=None) -> Emulator:
    emu = Emulator(engine, system=system, services=services)
    emu.map(CODE_ADDR, 0x10000, "rwx")
    emu.map(DATA_ADDR, 0x10000, "rw")
    emu.write(CODE_ADDR, code)
    for reg, value in (("rsi", DATA_ADDR), ("rdi", DATA_ADDR), ("rdx", 0), ("rsp", DATA_ADDR + 0x8000)):
        emu.reg_write(reg, value)
    return emu


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", sorted(USER_FAULTS))
def test_user_mode_faults_like_the_host(name, engine, host_faults):
    host = host_faults[name]
    assert host is not None, f"{name} did not fault on the host"
    signo, trapno, error, offset = host
    code = assemble(USER_FAULTS[name])
    emu = user_emulator(engine, code)
    stop = emu.run(CODE_ADDR, until=CODE_ADDR + len(code))
    assert stop.reason == "fault", stop
    assert stop.fault.vector == trapno
    if stop.fault.software:
        # A trap: the CPU reports the next instruction. (Linux 6.x shows user space
        # `int 3`, CD 03, at insn + 1 as if it were the one-byte int3, so no host offset.)
        assert stop.fault.pc == CODE_ADDR + len(code)
    else:
        assert stop.fault.pc - CODE_ADDR == offset
    assert SIGNAL_OF_VECTOR[stop.fault.vector] == signo
    if trapno == Vector.GP and not name.startswith(("int_", "iretq")):   # those carry a selector
        assert error == 0 and stop.fault.error == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_user_mode_vmcall_is_undefined(engine):
    """On bare metal vmcall outside VMX non-root is #UD (SIGILL). The host cannot show it:
    under a hypervisor the instruction reaches the hypervisor instead."""
    code = assemble("mov rdx, 7; vmcall")
    emu = user_emulator(engine, code)
    stop = emu.run(CODE_ADDR, until=CODE_ADDR + len(code))
    assert stop.reason == "fault" and stop.fault.vector == Vector.UD
    assert stop.fault.pc == CODE_ADDR + len(assemble("mov rdx, 7"))
    assert emu.reg_read("rdx") == 7


UMIP_READS = f"sidt [{DATA_ADDR:#x}]; sgdt [{DATA_ADDR + 16:#x}]; smsw eax; smsw word ptr [{DATA_ADDR + 32:#x}]; smsw bx"


def _host_has_umip() -> bool:
    with open("/proc/cpuinfo") as f:
        return any(line.startswith("flags") and " umip" in line for line in f)


@pytest.mark.parametrize("engine", ENGINES)
def test_user_mode_descriptor_reads_give_linux_umip_values(engine):
    code = assemble(UMIP_READS)
    emu = user_emulator(engine, code)
    emu.reg_write("rax", 0xFFFF_FFFF_FFFF_FFFF)
    emu.reg_write("rbx", 0xFFFF_FFFF_FFFF_FFFF)
    assert emu.run(CODE_ADDR, until=CODE_ADDR + len(code)).reason == "until"
    data = emu.read(DATA_ADDR, 34)
    assert struct.unpack_from("<HQ", data, 0) == (0, USER_IDT_BASE)
    assert struct.unpack_from("<HQ", data, 16) == (0, USER_GDT_BASE)
    assert struct.unpack_from("<H", data, 32)[0] == USER_CR0 & 0xFFFF
    assert emu.reg_read("rax") == 0xFFFF_FFFF_0000_0000 | USER_CR0    # Linux merges a 32-bit smsw
    assert emu.reg_read("rbx") == 0xFFFF_FFFF_FFFF_0000 | (USER_CR0 & 0xFFFF)   # 16-bit write merges


def test_user_mode_descriptor_reads_match_the_host():
    """Linux emulates these on a CPU with UMIP; without UMIP the host shows its real tables."""
    if _host_has_umip():
        check(UMIP_READS)
    else:
        pytest.fail("host CPU has no UMIP: cannot compare sidt/sgdt/smsw with it")


def _iret_to_self(flags: int) -> bytes:
    """Build a user-mode iretq frame that returns to the next instruction."""
    def build(target):
        return assemble(f"mov rax, rsp; push 0x2b; push rax; push {flags:#x}; push 0x33; "
                        f"mov rcx, {target:#x}; push rcx; iretq")
    code = build(CODE_ADDR)
    code = build(CODE_ADDR + len(code))
    assert len(code) == len(build(CODE_ADDR + len(code)))
    return code


@pytest.mark.parametrize("flags", [0x2, 0x8D7, 0x2 | 0x400 | 0x40 | 0x1, 0x202 | 0x80])
def test_user_mode_iretq_matches_the_host(flags):
    # IF is set on the host and not in the harness's guest: keep only the bits iretq may change
    check(_iret_to_self(flags) + assemble("pushfq; pop rdx; and rdx, 0xcd5; mov qword ptr [rsp - 8], 0"))


# -- system mode ------------------------------------------------------------------
class Recorder(Services):
    """Ends the run at the first IO/HELPER exit or fault and keeps what it saw."""

    def __init__(self):
        self.seen = None

    def io(self, executor):
        cpu = executor.cpu
        self.seen = ("io", cpu.exit_addr, cpu.exit_error, cpu.rip)
        return Stop("io")

    def helper(self, executor):
        cpu = executor.cpu
        self.seen = ("helper", cpu.exit_vector, cpu.rip)
        return Stop("helper")

    def fault(self, executor, fault):
        self.seen = ("fault", fault.vector, fault.pc, fault.software)
        return Stop("fault", fault=fault)


def run_system(engine: str, asm: str, regs=None):
    code = assemble(asm)
    services = Recorder()
    emu = user_emulator(engine, code, system=True, services=services)
    for reg, value in (regs or {}).items():
        emu.reg_write(reg, value)
    stop = emu.run(CODE_ADDR, until=CODE_ADDR + len(code))
    return emu, stop, services.seen, CODE_ADDR + len(code)


STRING = IOFlag.STRING
IO_CASES = [
    ("in al, dx", 0x3F8, 1),
    ("in ax, dx", 0x1F0, 2),
    ("in eax, dx", 0xCFC, 4),
    ("in al, 0x71", 0x71, 1),
    ("in eax, 0x40", 0x40, 4),
    ("out dx, al", 0x3F8, 1 | IOFlag.WRITE),
    ("out dx, ax", 0x1F0, 2 | IOFlag.WRITE),
    ("out dx, eax", 0xCF8, 4 | IOFlag.WRITE),
    ("out 0xe9, al", 0xE9, 1 | IOFlag.WRITE),
    ("out 0xf4, ax", 0xF4, 2 | IOFlag.WRITE),
    ("insb", 0x3F8, 1 | STRING),
    ("insw", 0x1F0, 2 | STRING),
    ("rep insw", 0x1F0, 2 | STRING | IOFlag.REP),
    ("rep insd", 0x1F0, 4 | STRING | IOFlag.REP),
    ("outsb", 0x3F8, 1 | STRING | IOFlag.WRITE),
    ("rep outsb", 0xE9, 1 | STRING | IOFlag.WRITE | IOFlag.REP),
    ("rep outsw", 0x1F0, 2 | STRING | IOFlag.WRITE | IOFlag.REP),
    ("outsd", 0x1F0, 4 | STRING | IOFlag.WRITE),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("insn, port, error", IO_CASES)
def test_system_io_exit_fields(insn, port, error, engine):
    # rdx carries junk above dx: the port is dx zero-extended
    emu, stop, seen, end = run_system(engine, f"mov rbx, 5; {insn}", {"rdx": 0xDEAD_0000_0000_0000 | port})
    assert stop.reason == "io"
    assert seen == ("io", port, error, end)
    assert emu.reg_read("rbx") == 5 and emu.cpu.icount == 2


HELPER_CASES = [("rdmsr", Helper.RDMSR), ("wrmsr", Helper.WRMSR), ("vmcall", Helper.VMCALL),
                ("sti", Helper.IRQ_WINDOW)]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("insn, which", HELPER_CASES)
def test_system_helper_exit_fields(insn, which, engine):
    emu, stop, seen, end = run_system(engine, f"cli; mov ecx, 0x10; {insn}")
    assert stop.reason == "helper"
    assert seen == ("helper", which, end)
    assert emu.cpu.icount == 3
    assert bool(emu.cpu.eflags & 0x200) == (insn == "sti")     # cli cleared IF; only sti sets it


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("n", [0, 3, 0x20, 0x80, 0xFF])
def test_system_int_n_is_a_software_interrupt(n, engine):
    emu, stop, seen, end = run_system(engine, f"nop; int {n:#x}")
    assert seen == ("fault", n, end, True)
    assert emu.cpu.exit_error & SOFTWARE_INTERRUPT


@pytest.mark.parametrize("engine", ENGINES)
def test_system_descriptor_tables_round_trip(engine):
    table = struct.pack("<HQ", 0xFFF, 0x1122334455667788) + struct.pack("<HQ", 0x7F, 0x8000)
    asm = (f"lidt [{DATA_ADDR:#x}]; lgdt [{DATA_ADDR + 10:#x}]; "
           f"sidt [{DATA_ADDR + 0x100:#x}]; sgdt [{DATA_ADDR + 0x10A:#x}]; invlpg [rsi]; wbinvd; invd")
    code = assemble(asm)
    emu = user_emulator(engine, code, system=True, services=Recorder())
    emu.write(DATA_ADDR, table)
    assert emu.run(CODE_ADDR, until=CODE_ADDR + len(code)).reason == "until"
    assert (emu.cpu.idt_limit, emu.cpu.idt_base) == (0xFFF, 0x1122334455667788)
    assert (emu.cpu.gdt_limit, emu.cpu.gdt_base) == (0x7F, 0x8000)
    assert emu.read(DATA_ADDR + 0x100, 20) == table


@pytest.mark.parametrize("engine", ENGINES)
def test_system_control_registers_read_back(engine):
    asm = ("mov rax, 0x80000011; mov cr0, rax; mov rax, 0x123000; mov cr3, rax; "
           "mov rax, 0x620; mov cr4, rax; mov rax, 0xdead000; mov cr2, rax; xor eax, eax; "
           "mov r8, cr0; mov r9, cr2; mov r10, cr3; mov r11, cr4; smsw ebx")
    emu, stop, seen, end = run_system(engine, asm)
    assert stop.reason == "until", seen
    assert (emu.cpu.cr0, emu.cpu.cr2, emu.cpu.cr3, emu.cpu.cr4) == (0x80000011, 0xDEAD000, 0x123000, 0x620)
    assert [emu.reg_read(r) for r in ("r8", "r9", "r10", "r11")] == [0x80000011, 0xDEAD000, 0x123000, 0x620]
    assert emu.reg_read("rbx") == 0x80000011


@pytest.mark.parametrize("engine", ENGINES)
def test_system_iretq_restores_the_frame(engine):
    """iretq pops rip, cs, rflags, rsp, ss; at CPL 0 IF and IOPL come from the frame too."""
    frame_flags = 0x200 | 0x400 | 0x80 | 0x1 | 0x3000       # IF DF SF CF IOPL=3
    new_rsp = DATA_ADDR + 0x4000
    prefix = f"cli; push 0x10; mov rax, {new_rsp:#x}; push rax; push {frame_flags:#x}; push 0x8"
    target = CODE_ADDR + len(assemble(f"{prefix}; mov rcx, {CODE_ADDR:#x}; push rcx; iretq"))
    emu, stop, seen, end = run_system(engine, f"{prefix}; mov rcx, {target:#x}; push rcx; iretq; nop")
    # iretq at CPL 0 returns to the runtime at the popped rip (an IRQ_WINDOW exit).
    assert stop.reason == "helper" and seen == ("helper", Helper.IRQ_WINDOW, target), seen
    assert emu.reg_read("rip") == target
    assert emu.reg_read("rsp") == new_rsp
    assert emu.rflags == frame_flags | 0x2
