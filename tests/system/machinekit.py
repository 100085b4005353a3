"""Shared by the pc-machine tests: the kernel prelude every test kernel starts with, and
in-process boot helpers (both engines must agree). The `build` fixture is in conftest.py."""
import shutil
import subprocess
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


def offset_of(kernel: Path, symbol: str) -> int:
    """A label's offset from _start (0x100000), from the kernel's own symbol table."""
    from elftools.elf.elffile import ELFFile
    with open(kernel, "rb") as f:
        symtab = ELFFile(f).get_section_by_name(".symtab")
        return symtab.get_symbol_by_name(symbol)[0]["st_value"] - 0x100000


def build_example_kernels(out: Path) -> Path:
    """Build every kernel of examples/kernels with its Makefile into `out`; fail without gcc/make."""
    for tool in ("gcc", "make"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is required to build the example kernels")
    proc = subprocess.run(["make", "-C", str(REPO / "examples" / "kernels"), f"OUT={out}"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"building the example kernels failed:\n{proc.stdout}\n{proc.stderr}")
    return out
