"""The pc machine (dbt/runtime/machine.py, MACHINE.md) on tiny kernels built at test time.

Each kernel is a few lines of assembly linked by gcc at 0x100000; it reports
what it saw through the debug console (port 0xE9) and ends through the debug
exit port (status (v << 1) | 1) or a hypercall. Expected values come from the
spec (vector numbers, error codes, the PIT period) or from the kernel itself,
never from a previous dbt run. Every kernel runs under both engines, which
must agree byte for byte on the output, the status and the message.
"""
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dbt.cli import build_parser
from dbt.cli_machine import add_machine_arguments, run_machine

REPO = Path(__file__).resolve().parents[2]
ENGINES = ("jit", "interp")
MAX_INSNS = 1_000_000       # far more than any kernel here needs
LINK = ["-nostdlib", "-static", "-Wl,-N,-Ttext=0x100000,--build-id=none,--no-warn-rwx-segments"]

# Shared by every kernel: entry, helpers (putc, puthex, exit, set_gate) and a
# generic exception handler that prints "v<vector> e<error> " then 'r' when
# the pushed RIP is `expect` (else 'R', the RIP, and exit 0x7f), 'c'/'s' for
# CS=8 / SS=0x10, and resumes at `resume`. Data lives on its own page, away
# from the code. Every run has an instruction budget, so no kernel can hang.
PRELUDE = r"""
    .intel_syntax noprefix
    .globl _start
    .text
_start:
    jmp main

putc:                       # dil
    mov eax, edi
    out 0xe9, al
    ret

puthex:                     # rdi, in hex without leading zeros
    push rcx
    push rdx
    mov rcx, 60
    xor r8d, r8d
1:  mov rax, rdi
    shr rax, cl
    and eax, 15
    or r8d, eax
    jnz 2f
    test ecx, ecx
    jnz 3f
2:  lea rdx, [rip + digits]
    mov al, [rdx + rax]
    out 0xe9, al
3:  sub ecx, 4
    jns 1b
    pop rdx
    pop rcx
    ret

exit:                       # edi: host status (edi << 1) | 1
    mov eax, edi
    out 0xf4, al
    hlt

set_gate:                   # edi vector, rsi handler, edx attributes (0x8E interrupt, 0x8F trap)
    shl rdi, 4
    lea rax, [rip + idt]
    add rdi, rax
    mov rax, rsi
    mov word ptr [rdi], ax
    mov word ptr [rdi + 2], 0x08
    mov byte ptr [rdi + 4], 0
    mov byte ptr [rdi + 5], dl
    shr rax, 16
    mov word ptr [rdi + 6], ax
    shr rax, 16
    mov dword ptr [rdi + 8], eax
    mov dword ptr [rdi + 12], 0
    ret

set_exception_gates:        # vectors 0-31 -> stubN, interrupt gates
    push rbx
    xor ebx, ebx
4:  mov edi, ebx
    lea rax, [rip + stubs]
    mov rsi, [rax + rbx*8]
    mov edx, 0x8E
    call set_gate
    inc ebx
    cmp ebx, 32
    jb 4b
    pop rbx
    ret

exception:                  # stack: vector, error, rip, cs, rflags, rsp, ss
    mov dil, 'v'
    call putc
    mov rdi, [rsp]
    call puthex
    mov dil, ' '
    call putc
    mov dil, 'e'
    call putc
    mov rdi, [rsp + 8]
    call puthex
    mov dil, ' '
    call putc
    mov rax, [rsp + 16]
    cmp rax, [rip + expect]
    je 5f
    mov dil, 'R'                    # unexpected: say where, and stop
    call putc
    mov rdi, [rsp + 16]
    call puthex
    mov edi, 0x7f
    jmp exit
5:  mov dil, 'r'
    call putc
    mov dil, 'C'
    cmp qword ptr [rsp + 24], 8
    jne 5f
    mov dil, 'c'
5:  call putc
    mov dil, 'S'
    cmp qword ptr [rsp + 48], 0x10
    jne 5f
    mov dil, 's'
5:  call putc
    mov dil, '\n'
    call putc
    mov rax, [rip + resume]
    mov [rsp + 16], rax
    add rsp, 16
    iretq

    .macro stub v
stub\v:
    .if (\v == 8) || (\v >= 10 && \v <= 14) || (\v == 17)
    .else
    push 0
    .endif
    push \v
    jmp exception
    .endm
    .irp v,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    stub \v
    .endr

    # expect_fault LABEL: the next fault must push rip=LABEL and resume after LABEL's insn
    .macro expect_fault at, after
    lea rax, [rip + \after]
    mov [rip + resume], rax
    lea rax, [rip + \at]
    mov [rip + expect], rax
    .endm
"""

DATA = r"""
    .data
    .p2align 12
stubs:
    .irp v,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad stub\v
    .endr
digits: .ascii "0123456789abcdef"
    .p2align 4
idtr: .word 256*16-1
    .quad idt
resume: .quad 0
expect: .quad 0
    .p2align 4
idt: .fill 256*16, 1, 0
"""


# -- building and running -------------------------------------------------------------
@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """build(name, body, data='') -> path of a kernel: PRELUDE + main: body + DATA."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is required to build the test kernels")
    outdir = tmp_path_factory.mktemp("kernels")

    def make(name: str, body: str, data: str = "") -> Path:
        src = outdir / f"{name}.S"
        src.write_text(PRELUDE + "\nmain:\n" + body + "\n" + DATA + data + "\n")
        out = outdir / f"{name}.elf"
        proc = subprocess.run([gcc, *LINK, "-o", str(out), str(src)], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail(f"building {name} failed:\n{proc.stderr}")
        return out
    return make


def boot(kernel, engine, *options, tmp_path, capsys):
    """Run the kernel in-process through the CLI entry point; (status, console bytes, stderr)."""
    serial = tmp_path / f"console-{engine}.txt"
    parser = build_parser()
    run = next(a for a in parser._subparsers._group_actions).choices["run"]
    add_machine_arguments(run)
    budget = () if "--max-insns" in options else ("--max-insns", str(MAX_INSNS))
    ns = parser.parse_args(["run", "--machine", "pc", "--engine", engine,
                            "-serial", f"file:{serial}", *budget, *options, str(kernel)])
    capsys.readouterr()
    status = run_machine(ns)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return status, serial.read_bytes() if serial.exists() else b"", err


def boot_both(kernel, *options, tmp_path, capsys):
    """Both engines; they must agree on everything. Returns (status, output, stderr)."""
    results = [boot(kernel, engine, *options, tmp_path=tmp_path, capsys=capsys) for engine in ENGINES]
    assert results[0] == results[1], f"jit and interp differ:\n{results[0]}\n{results[1]}"
    return results[0]


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, f"want one stderr line, got:\n{err}"
    return lines[0]


def debug_exit_status(v: int) -> int:
    return ((v << 1) | 1) & 0xFF


# -- console and exit ------------------------------------------------------------------
def test_debugcon_and_debug_exit(build, tmp_path, capsys):
    kernel = build("hello", r"""
    lea rsi, [rip + msg]
    mov ecx, 6
    mov edx, 0xe9
1:  lodsb
    out dx, al
    dec ecx
    jnz 1b
    mov edi, 5
    jmp exit
msg: .ascii "hello\n"
""")
    status, out, err = boot_both(kernel, tmp_path=tmp_path, capsys=capsys)
    assert (status, out, err) == (debug_exit_status(5), b"hello\n", "")


def test_boot_state_and_info(build, tmp_path, capsys):
    """Entry: RSP=0x80000, RFLAGS=0x2, RDI=0x7000 with magic, RAM size and the command line."""
    kernel = build("bootinfo", r"""
    pushfq                          # flags first: every helper changes them
    pop r12
    lea r13, [rsp]
    mov rbx, rdi
    mov rdi, r13
    call puthex
    mov dil, ' '
    call putc
    mov rdi, r12
    call puthex
    mov dil, ' '
    call putc
    mov rdi, rbx
    call puthex
    mov dil, ' '
    call putc
    mov rdi, [rbx]
    call puthex
    mov dil, ' '
    call putc
    mov rdi, [rbx + 8]
    call puthex
    mov dil, ' '
    call putc
    mov eax, 1                      # hypercall 1: write the command line
    mov rdi, [rbx + 16]
    mov rsi, [rbx + 24]
    inc rsi                         # and its NUL
    vmcall
    mov edi, 0
    jmp exit
""")
    status, out, err = boot_both(kernel, "-m", "128M", "--append", "console=ttyS0 quiet",
                                 tmp_path=tmp_path, capsys=capsys)
    want = f"80000 2 7000 {0x4350544244:x} {128 << 20:x} ".encode() + b"console=ttyS0 quiet\0"
    assert (status, out, err) == (1, want, "")


def test_hypercalls(build, tmp_path, capsys):
    """RAX=0 version 1; 1 console write; 3 virtual time (1 ns per insn); other: -1; 2 exit."""
    kernel = build("hypercalls", r"""
    xor eax, eax
    vmcall
    mov rdi, rax
    call puthex
    mov eax, 1
    lea rdi, [rip + msg]
    mov esi, 5
    vmcall
    mov eax, 3
    vmcall
    mov rbx, rax
    mov eax, 3
    vmcall
    sub rax, rbx
    mov rdi, rax                   # three instructions apart
    call puthex
    mov eax, 0x1234
    vmcall
    mov rdi, rax
    call puthex
    mov eax, 2
    mov edi, 42
    vmcall
    mov edi, 1
    jmp exit
msg: .ascii " msg "
""")
    status, out, err = boot_both(kernel, tmp_path=tmp_path, capsys=capsys)
    assert (status, out, err) == (42, b"1 msg 3" + b"f" * 16, "")


def test_msrs(build, tmp_path, capsys):
    """EFER reads LME|LMA, keeps NXE; FS_BASE moves fs:; a TSC write moves rdtsc; an
    unknown MSR is #GP(0) at rdmsr."""
    kernel = build("msrs", r"""
    call set_exception_gates
    lidt [rip + idtr]
    mov ecx, 0xC0000080
    rdmsr
    mov rdi, rax
    call puthex
    mov dil, ' '
    call putc
    mov ecx, 0xC0000080
    rdmsr
    or eax, 0x800
    wrmsr
    xor eax, eax
    rdmsr
    mov rdi, rax
    call puthex
    mov dil, ' '
    call putc
    mov ecx, 0xC0000100
    lea rax, [rip + letter]
    mov rdx, rax
    shr rdx, 32
    wrmsr
    mov dil, fs:[0]
    call putc
    mov ecx, 0x10                   # TSC := 10**9, then rdtsc reads on from there
    mov eax, 1000000000
    xor edx, edx
    wrmsr
    rdtsc
    shl rdx, 32
    or rax, rdx
    sub rax, 1000000000
    mov dil, 'T'
    cmp rax, 10
    ja 1f
    mov dil, 't'
1:  call putc
    mov dil, '\n'
    call putc
    expect_fault bad_msr, after_bad_msr
    mov ecx, 0x12345
bad_msr:
    rdmsr
after_bad_msr:
    mov edi, 0
    jmp exit
letter: .ascii "F"
""")
    status, out, err = boot_both(kernel, tmp_path=tmp_path, capsys=capsys)
    assert (status, out, err) == (1, b"500 d00 Ft\nvd e0 rcs\n", "")


# -- exceptions -------------------------------------------------------------------------
EXCEPTIONS = r"""
    call set_exception_gates
    mov word ptr [rip + idtr], 32*16-1
    lidt [rip + idtr]
    expect_fault at_de, after_de
    xor ecx, ecx
at_de: div ecx
after_de:
    expect_fault at_ud, after_ud
at_ud: ud2
after_ud:
    expect_fault at_gp, after_gp
at_gp: int 0x40                       # beyond the IDT limit
after_gp:
    expect_fault at_pf, after_pf
    mov rbx, 0x10000000               # 256 MiB: outside the 64 MiB of RAM
at_pf: mov rax, [rbx]
after_pf:
    expect_fault at_pfw, after_pfw
at_pfw: mov [rbx + 8], eax
after_pfw:
    mov edi, 0
    jmp exit
"""


def test_exceptions_through_the_idt(build, tmp_path, capsys):
    """#DE 0, #UD 6, #GP 13 (error vector*8+2 for a vector past the IDT limit), #PF 14
    (error 0 for a read, 2 for a write of a page that is not there), each with the
    faulting instruction's RIP, CS=0x08 and SS=0x10 in the frame."""
    kernel = build("exceptions", EXCEPTIONS)
    status, out, err = boot_both(kernel, tmp_path=tmp_path, capsys=capsys)
    lines = out.decode().splitlines()
    assert lines == ["v0 e0 rcs", "v6 e0 rcs", f"vd e{0x40 * 8 + 2:x} rcs", "ve e0 rcs", "ve e2 rcs"]
    assert (status, err) == (1, "")


def test_page_fault_cr2_and_fetch(build, tmp_path, capsys):
    """CR2 holds the address; a jump outside RAM faults with the target as RIP and CR2."""
    kernel = build("cr2", r"""
    call set_exception_gates
    lidt [rip + idtr]
    mov rbx, 0x10000000
    expect_fault at_pf, after_pf
at_pf: mov [rbx + 0x18], al
after_pf:
    mov rdi, cr2
    call puthex
    mov dil, '\n'
    call putc
    mov [rip + expect], rbx
    lea rax, [rip + after_call]
    mov [rip + resume], rax
    call rbx
after_call:
    add rsp, 8                        # the return address the call pushed
    mov rdi, cr2
    call puthex
    mov edi, 0
    jmp exit
""")
    status, out, err = boot_both(kernel, tmp_path=tmp_path, capsys=capsys)
    assert (status, out, err) == (1, b"ve e2 rcs\n10000018\nve e0 rcs\n10000000", "")


def test_page_fault_straddling_the_end_of_ram(build, tmp_path, capsys):
    """An 8-byte read at RAM end - 4: the bytes past the end fault, and CR2 is the first of
    them (as for a read straddling into a page that is not present; QEMU agrees)."""
    kernel = build("straddle", r"""
    call set_exception_gates
    lidt [rip + idtr]
    mov rbx, 0x4000000 - 4
    expect_fault at_pf, after_pf
at_pf: mov rax, [rbx]
after_pf:
    mov rdi, cr2
    call puthex
    mov edi, 0
    jmp exit
""")
    status, out, err = boot_both(kernel, tmp_path=tmp_path, capsys=capsys)
    assert (status, out, err) == (1, b"ve e0 rcs\n4000000", "")


def test_triple_fault_without_idt(build, tmp_path, capsys):
    kernel = build("triple", r"""
    mov dil, 'x'
    call putc
at_ud:
    ud2
""")
    status, out, err = boot_both(kernel, tmp_path=tmp_path, capsys=capsys)
    line = one_line(err)
    assert (status, out) == (3, b"x")
    ud_rip = 0x100000 + _offset_of(kernel, "at_ud")
    assert "triple fault" in line and "#UD" in line and "vector 6" in line and f"{ud_rip:#x}" in line


def test_double_fault_rules(build, tmp_path, capsys):
    """Only gate 8 is valid: #UD (benign) -> #GP(6*8+2) delivered serially -> #GP in that
    (contributory twice) -> #DF with error code 0 and the #UD's RIP."""
    kernel = build("double", r"""
    mov edi, 8
    lea rsi, [rip + stub8]
    mov edx, 0x8E
    call set_gate
    lidt [rip + idtr]
    expect_fault at_ud, after
at_ud: ud2
after:
    mov edi, 0
    jmp exit
""")
    status, out, err = boot_both(kernel, tmp_path=tmp_path, capsys=capsys)
    assert (status, out, err) == (1, b"v8 e0 rcs\n", "")


def test_fault_delivery_with_stack_outside_ram_is_triple(build, tmp_path, capsys):
    kernel = build("badstack", r"""
    call set_exception_gates
    lidt [rip + idtr]
    mov rsp, 0x10000000
    ud2
""")
    status, out, err = boot_both(kernel, tmp_path=tmp_path, capsys=capsys)
    line = one_line(err)
    assert status == 3 and "#UD" in line and "#PF" in line and "#DF" in line


def test_int_n_gates(build, tmp_path, capsys):
    """int n pushes the next RIP and no error code; a trap gate keeps IF, an interrupt gate clears it."""
    kernel = build("intn", r"""
    mov edi, 0x30
    lea rsi, [rip + show_if]
    mov edx, 0x8F
    call set_gate
    mov edi, 0x31
    lea rsi, [rip + show_if]
    mov edx, 0x8E
    call set_gate
    lidt [rip + idtr]
    sti
    int 0x30
ret1:
    int 0x31
ret2:
    cli
    int 0x30
ret3:
    mov edi, 0
    jmp exit
show_if:                            # prints IF now, IF saved, and the pushed rip offset
    pushfq
    pop rdi
    shr rdi, 9
    and edi, 1
    call puthex
    mov rdi, [rsp + 16]
    shr rdi, 9
    and edi, 1
    call puthex
    mov rdi, [rsp]
    lea rax, [rip + _start]
    sub rdi, rax
    call puthex
    mov dil, ' '
    call putc
    iretq
""")
    status, out, err = boot_both(kernel, tmp_path=tmp_path, capsys=capsys)
    offsets = [_offset_of(kernel, name) for name in ("ret1", "ret2", "ret3")]
    want = f"11{offsets[0]:x} 01{offsets[1]:x} 00{offsets[2]:x} ".encode()
    assert (status, out, err) == (1, want, "")


# -- port I/O ---------------------------------------------------------------------------
def test_port_io_widths_and_strings(build, tmp_path, capsys):
    """in eax zero-extends RAX, in al merges; unassigned ports read all ones;
    rep outsb walks RSI forward (DF=0) or backward (DF=1) and counts RCX down."""
    kernel = build("portio", r"""
    mov rax, -1
    mov dx, 0x510                   # no device there
    in eax, dx
    mov rdi, rax
    call puthex
    mov dil, ' '
    call putc
    mov rax, 0x1122334455667700
    in al, 0xe9                     # debugcon reads 0xE9
    mov rdi, rax
    call puthex
    mov dil, ' '
    call putc
    lea rsi, [rip + text]
    mov ecx, 5
    mov dx, 0xe9
    rep outsb
    mov rdi, rcx
    call puthex
    std
    lea rsi, [rip + text + 4]
    mov ecx, 5
    mov dx, 0xe9
    rep outsb
    cld
    lea rdi, [rip + buffer]
    mov ecx, 3
    mov dx, 0xe9
    rep insb
    lea rax, [rip + buffer]
    sub rdi, rax
    call puthex
    mov edi, [rip + buffer]
    call puthex
    mov edi, 0
    jmp exit
text: .ascii "abcde"
""", data="buffer: .quad 0\n")
    status, out, err = boot_both(kernel, tmp_path=tmp_path, capsys=capsys)
    assert (status, out, err) == (1, b"ffffffff 11223344556677e9 abcde0edcba3e9e9e9", "")


# -- timers and interrupts ----------------------------------------------------------------
PIC_INIT = r"""
    mov al, 0x11                    # ICW1: edge, cascade, ICW4
    out 0x20, al
    out 0xa0, al
    mov al, 0x20                    # ICW2: master vectors 0x20-0x27, slave 0x28-0x2f
    out 0x21, al
    mov al, 0x28
    out 0xa1, al
    mov al, 4
    out 0x21, al
    mov al, 2
    out 0xa1, al
    mov al, 1
    out 0x21, al
    out 0xa1, al
    mov al, 0xfe                    # only IRQ 0
    out 0x21, al
    mov al, 0xff
    out 0xa1, al
"""


def test_pit_interrupts_while_halting(build, tmp_path, capsys):
    """PIT channel 0 in mode 2 with divisor 1193 interrupts every 1193/1193182 s; hlt with
    IF=1 waits for it. The handler stamps virtual time (hypercall 3) and the TSC (1 GHz):
    both advance by the period between ticks, to the nanosecond."""
    kernel = build("pit", r"""
    mov edi, 0x20
    lea rsi, [rip + tick]
    mov edx, 0x8E
    call set_gate
    lidt [rip + idtr]
""" + PIC_INIT + r"""
    mov al, 0x34                    # channel 0, lobyte/hibyte, mode 2
    out 0x43, al
    mov ax, 1193
    out 0x40, al
    mov al, ah
    out 0x40, al
    sti
wait:
    hlt
    cmp dword ptr [rip + ticks], 4
    jb wait
    cli
    mov ebx, 1
show:
    lea rax, [rip + times]
    mov rdi, [rax + rbx*8]
    sub rdi, [rax + rbx*8 - 8]
    call puthex
    mov dil, ' '
    call putc
    lea rax, [rip + tscs]
    mov rdi, [rax + rbx*8]
    sub rdi, [rax + rbx*8 - 8]
    call puthex
    mov dil, ' '
    call putc
    inc ebx
    cmp ebx, 4
    jb show
    mov edi, 0x10
    jmp exit

tick:
    push rax
    push rcx
    push rdx
    mov eax, 3
    vmcall
    mov ecx, [rip + ticks]
    lea rdx, [rip + times]
    mov [rdx + rcx*8], rax
    rdtsc
    shl rdx, 32
    or rax, rdx
    lea rdx, [rip + tscs]
    mov [rdx + rcx*8], rax
    inc dword ptr [rip + ticks]
    mov al, 0x20                    # EOI
    out 0x20, al
    pop rdx
    pop rcx
    pop rax
    iretq
""", data="ticks: .long 0\n    .p2align 3\ntimes: .fill 8, 8, 0\ntscs: .fill 8, 8, 0\n")
    status, out, err = boot_both(kernel, tmp_path=tmp_path, capsys=capsys)
    assert (status, err) == (debug_exit_status(0x10), "")
    period = 1193 * 10**9 / 1193182
    intervals = [int(x, 16) for x in out.decode().split()]       # time, tsc, time, tsc, ...
    assert len(intervals) == 6
    assert all(abs(i - period) < 1 for i in intervals), intervals


def test_sti_shadow_lets_hlt_retire(build, tmp_path, capsys):
    """An IRQ that became pending while IF=0 is taken after `sti; hlt` retires (the sti
    shadow), so the pushed RIP is past the hlt and the one-shot timer does not strand it."""
    kernel = build("shadow", r"""
    mov edi, 0x20
    lea rsi, [rip + tick]
    mov edx, 0x8E
    call set_gate
    lidt [rip + idtr]
""" + PIC_INIT + r"""
    mov al, 0x30                    # channel 0, lobyte/hibyte, mode 0 (one-shot)
    out 0x43, al
    mov al, 10                      # 10 ticks: about 8.4 us
    out 0x40, al
    mov al, 0
    out 0x40, al
    mov ecx, 20000                  # 40,000 instructions with IF=0: the IRQ is pending
1:  dec ecx
    jnz 1b
    sti
    hlt
after_hlt:
    mov edi, 0
    jmp exit
tick:
    lea rax, [rip + after_hlt]
    mov dil, 'H'
    cmp [rsp], rax
    jne 2f
    mov dil, 'h'
2:  call putc
    mov edi, 7
    jmp exit
""")
    status, out, err = boot_both(kernel, tmp_path=tmp_path, capsys=capsys)
    assert (status, out, err) == (debug_exit_status(7), b"h", "")


def test_sti_shadow_is_one_instruction(build, tmp_path, capsys):
    """Without hlt: the pending IRQ is taken after exactly one instruction past sti."""
    kernel = build("shadow1", r"""
    mov edi, 0x20
    lea rsi, [rip + tick]
    mov edx, 0x8E
    call set_gate
    lidt [rip + idtr]
""" + PIC_INIT + r"""
    mov al, 0x30                    # one-shot, 10 ticks
    out 0x43, al
    mov al, 10
    out 0x40, al
    mov al, 0
    out 0x40, al
    mov ecx, 20000
1:  dec ecx
    jnz 1b
    sti
    nop
after_nop:
    nop
    mov edi, 0
    jmp exit
tick:
    lea rax, [rip + after_nop]
    mov dil, 'N'
    cmp [rsp], rax
    jne 2f
    mov dil, 'n'
2:  call putc
    mov edi, 7
    jmp exit
""")
    status, out, err = boot_both(kernel, tmp_path=tmp_path, capsys=capsys)
    assert (status, out, err) == (debug_exit_status(7), b"n", "")


def test_interrupt_pending_across_iretq_is_taken(build, tmp_path, capsys):
    """An IRQ that arrives while IF=0 is taken soon after an iretq sets IF again."""
    kernel = build("iretq_if", r"""
    mov edi, 0x20
    lea rsi, [rip + tick]
    mov edx, 0x8E
    call set_gate
    lidt [rip + idtr]
""" + PIC_INIT + r"""
    mov al, 0x30                    # one-shot, 10 ticks
    out 0x43, al
    mov al, 10
    out 0x40, al
    mov al, 0
    out 0x40, al
    mov ecx, 20000                  # the IRQ is pending by the end of this
1:  dec ecx
    jnz 1b
    mov rax, rsp                    # iretq to `resumed` with IF=1
    push 0x10
    push rax
    push 0x202
    push 0x08
    lea rax, [rip + resumed]
    push rax
    iretq
resumed:
    mov ecx, 100000
2:  cmp byte ptr [rip + ticked], 0
    jne 3f
    dec ecx
    jnz 2b
    mov dil, 'N'
    call putc
    mov edi, 0
    jmp exit
3:  mov dil, 'y'
    call putc
    mov edi, 7
    jmp exit
tick:
    mov byte ptr [rip + ticked], 1
    push rax
    mov al, 0x20
    out 0x20, al
    pop rax
    iretq
""", data="ticked: .byte 0\n")
    status, out, err = boot_both(kernel, tmp_path=tmp_path, capsys=capsys)
    assert (status, out, err) == (debug_exit_status(7), b"y", "")


def test_hlt_that_nothing_can_wake_ends_the_run(build, tmp_path, capsys):
    """IF=1 but the only timer's IRQ is masked: nothing can ever wake the CPU."""
    kernel = build("stuck", PIC_INIT + r"""
    mov al, 0xff                    # mask IRQ 0 too
    out 0x21, al
    mov al, 0x34                    # a periodic timer that will never be heard
    out 0x43, al
    mov al, 100
    out 0x40, al
    mov al, 0
    out 0x40, al
    sti
    hlt
""")
    status, out, err = boot_both(kernel, tmp_path=tmp_path, capsys=capsys)
    assert (status, out) == (0, b"") and "halted" in one_line(err)


def test_realtime_timer_ticks(build, tmp_path, capsys):
    """--realtime: the PIT runs on the host clock; ticks still come and the run ends."""
    kernel = build("rt", r"""
    mov edi, 0x20
    lea rsi, [rip + tick]
    mov edx, 0x8E
    call set_gate
    lidt [rip + idtr]
""" + PIC_INIT + r"""
    mov al, 0x34
    out 0x43, al
    mov ax, 1193                    # 1 ms
    out 0x40, al
    mov al, ah
    out 0x40, al
    sti
1:  cmp dword ptr [rip + ticks], 3
    jb 1b
    mov edi, 0x10
    jmp exit
tick:
    inc dword ptr [rip + ticks]
    push rax
    mov al, 0x20
    out 0x20, al
    pop rax
    iretq
""", data="ticks: .long 0\n")
    for engine in ENGINES:
        status, out, err = boot(kernel, engine, "--realtime", "--max-insns", str(10**10),
                                tmp_path=tmp_path, capsys=capsys)
        assert (status, err) == (debug_exit_status(0x10), "")


def test_unimp_log(build, tmp_path, capsys):
    """-d unimp names accesses to ports with no device and instructions dbt cannot lift."""
    kernel = build("unimp", r"""
    call set_exception_gates
    lidt [rip + idtr]
    in al, 0x80
    expect_fault at_ud, after_ud
at_ud:
    xsetbv
after_ud:
    mov edi, 0
    jmp exit
""")
    status, out, err = boot_both(kernel, "-d", "unimp", tmp_path=tmp_path, capsys=capsys)
    lines = err.splitlines()
    assert status == 1 and out == b"v6 e0 rcs\n"
    assert len(lines) == 2 and "port 0x80" in lines[0] and "xsetbv" in lines[1]


@pytest.mark.parametrize("options", [("-m", "12Q"), ("-m", "64K"), ("--append", "x" * 5000),
                                     ("-serial", "tcp:1234"), ("-drive", "file=a,if=scsi")])
def test_bad_options(build, tmp_path, capsys, options):
    kernel = build("opts", "    mov edi, 0\n    jmp exit\n")
    status, out, err = boot(kernel, "interp", *options, tmp_path=tmp_path, capsys=capsys)
    one_line(err)
    assert status == 2


def test_hlt_with_interrupts_disabled_ends_the_run(build, tmp_path, capsys):
    kernel = build("halt", "    mov dil, 'z'\n    call putc\n    cli\n    hlt\n")
    status, out, err = boot_both(kernel, tmp_path=tmp_path, capsys=capsys)
    assert (status, out) == (0, b"z") and "halted" in one_line(err)


def test_max_insns(build, tmp_path, capsys):
    kernel = build("spin", "spin: jmp spin\n")
    status, out, err = boot_both(kernel, "--max-insns", "5000", tmp_path=tmp_path, capsys=capsys)
    assert status == 124 and "5000" in one_line(err)


# -- drive and screen ---------------------------------------------------------------------
def test_drive_written_before_triple_fault_and_screenshot(build, tmp_path, capsys):
    """A sector written by PIO reaches the image even though the run ends in a triple
    fault; the screenshot shows the VGA cell the kernel wrote."""
    kernel = build("disk", r"""
    mov word ptr [0xb8000], 0x1f41  # 'A', white on blue
    mov dx, 0x1f6
    mov al, 0xe0                    # master, LBA, LBA 27:24 = 0
    out dx, al
    mov dx, 0x1f2
    mov al, 1
    out dx, al
    mov dx, 0x1f3
    mov al, 1                       # LBA 1
    out dx, al
    mov dx, 0x1f4
    xor eax, eax
    out dx, al
    mov dx, 0x1f5
    out dx, al
    mov dx, 0x1f7
    mov al, 0x30                    # WRITE SECTORS
    out dx, al
    lea rsi, [rip + sector]
    mov ecx, 256
    mov dx, 0x1f0
    rep outsw
    ud2                             # no IDT: triple fault
""", data="sector: .fill 512, 1, 0x5a\n")
    for engine in ENGINES:
        image = tmp_path / f"disk-{engine}.img"
        image.write_bytes(bytes(4 * 512))
        png = tmp_path / f"screen-{engine}.png"
        status, out, err = boot(kernel, engine, "-drive", f"file={image},format=raw",
                                "--screenshot", str(png), tmp_path=tmp_path, capsys=capsys)
        assert status == 3 and "triple fault" in one_line(err)
        assert image.read_bytes() == bytes(512) + b"\x5a" * 512 + bytes(1024)
        from PIL import Image
        with Image.open(png) as picture:
            assert picture.size == (640, 400)
            assert picture.getpixel((0, 0)) == (0x00, 0x00, 0xAA)        # blue background
            assert picture.getpixel((8 * 1, 0)) == (0x00, 0x00, 0x00)    # an empty cell


# -- refusing to boot -------------------------------------------------------------------------
def elf_bytes(paddr=0x100000, memsz=16, elf_class=2, machine=62, code=b"\xf4" * 16):
    header = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF" + bytes((elf_class, 1, 1)) + bytes(9),
                         2, machine, 1, paddr, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 1, 7, 0x1000, paddr, paddr, len(code), memsz, 0x1000)
    return (header + phdr).ljust(0x1000, b"\0") + code


@pytest.mark.parametrize("name, contents, want", [
    ("text", b"not an ELF\n", 126),
    ("elf32", elf_bytes(elf_class=1), 126),
    ("arm", elf_bytes(machine=40), 126),
    ("boot-area", elf_bytes(paddr=0x7000), 126),
    ("beyond-ram", elf_bytes(paddr=(64 << 20) - 8), 126),
    ("missing", None, 127),
])
def test_bad_kernels(tmp_path, capsys, name, contents, want):
    kernel = tmp_path / name
    if contents is not None:
        kernel.write_bytes(contents)
    status, out, err = boot(kernel, "interp", tmp_path=tmp_path, capsys=capsys)
    one_line(err)
    assert status == want


def test_missing_drive_image(tmp_path, capsys):
    kernel = tmp_path / "k.elf"
    kernel.write_bytes(elf_bytes())
    status, out, err = boot(kernel, "interp", "-drive", f"file={tmp_path / 'nope.img'}",
                            tmp_path=tmp_path, capsys=capsys)
    assert status == 127 and "nope.img" in one_line(err)


def test_segment_is_loaded_and_zero_filled(tmp_path, capsys):
    """p_memsz beyond p_filesz reads as zero (the kernel sums it and reports via exit)."""
    code = bytes.fromhex(
        "48 8d 35 00 10 00 00"       # lea rsi, [rip + 0x1000]  (past the file bytes)
        "48 8b 06"                   # mov rax, [rsi]
        "48 0b 46 08"                # or rax, [rsi + 8]
        "48 83 f8 00"                # cmp rax, 0
        "0f 94 c0"                   # sete al
        "e6 f4"                      # out 0xf4, al
        .replace(" ", ""))
    kernel = tmp_path / "bss.elf"
    kernel.write_bytes(elf_bytes(memsz=0x2000, code=code))
    status, out, err = boot(kernel, "interp", tmp_path=tmp_path, capsys=capsys)
    assert (status, err) == (debug_exit_status(1), "")


# -- the command itself -------------------------------------------------------------------
# `dbt run --machine pc` in a fresh process: through dbt.cli.main once it routes --machine,
# else through run_machine directly (with main's handling of Ctrl-C).
LAUNCHER = """
import sys
from dbt import cli
from dbt.cli_machine import add_machine_arguments, run_machine
parser = cli.build_parser()
run = parser._subparsers._group_actions[0].choices["run"]
if "-serial" in run._option_string_actions:
    sys.exit(cli.main(sys.argv[1:]))
add_machine_arguments(run)
try:
    sys.exit(run_machine(parser.parse_args(sys.argv[1:])))
except KeyboardInterrupt:
    print("dbt: interrupted", file=sys.stderr)
    sys.exit(130)
"""


def launch(*args, **popen):
    return subprocess.Popen([sys.executable, "-c", LAUNCHER, "run", "--machine", "pc", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, **popen)


def test_console_on_stdout_through_the_command(build):
    """Output on stdout, one line on stderr, the status."""
    kernel = build("cmd", "    mov dil, 'o'\n    call putc\n    mov dil, 'k'\n    call putc\n    ud2\n")
    proc = launch("--engine", "interp", kernel)
    out, err = proc.communicate(timeout=120)
    assert (out, proc.returncode) == (b"ok", 3)
    assert "triple fault" in one_line(err.decode())


@pytest.mark.parametrize("engine", ENGINES)
def test_ctrl_c_stops_a_spinning_guest_and_closes_up(build, tmp_path, engine):
    """SIGINT reaches a guest spinning in translated code; the screenshot is still written."""
    kernel = build("spin_forever", "    mov dil, '.'\n    call putc\nforever: jmp forever\n")
    png = tmp_path / "spin.png"
    proc = launch("--engine", engine, "--screenshot", png, kernel,
                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stdout.read(1) == b"."          # the guest is running
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130 and "interrupted" in one_line(err.decode())
    assert png.exists()


# -- helpers ------------------------------------------------------------------------------------
def _offset_of(kernel: Path, symbol: str) -> int:
    """A label's offset from _start (0x100000), from the kernel's own symbol table."""
    from elftools.elf.elffile import ELFFile
    with open(kernel, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        return symtab.get_symbol_by_name(symbol)[0]["st_value"] - 0x100000
