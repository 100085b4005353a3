"""The pc machine (dbt/runtime/machine.py, MACHINE.md) on tiny kernels built at test time.

Each kernel is a few lines of assembly linked by gcc at 0x100000; it reports
what it saw through the debug console (port 0xE9) and ends through the debug
exit port (status (v << 1) | 1) or a hypercall. Expected values come from the
spec (vector numbers, error codes, the PIT period) or from the kernel itself,
never from a previous dbt run. Every kernel runs under both engines, which
must agree byte for byte on the output, the status and the message.
"""
import os
import signal
import struct
import subprocess
import sys
import time

import pytest

from machinekit import boot, boot_both, debug_exit_status, ENGINES, one_line, REPO


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
