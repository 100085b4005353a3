"""The pc machine's exceptions, timers and interrupts on tiny kernels built at test time
(see test_machine_unit.py and machinekit.py). Both engines must agree byte for byte."""

import pytest

from machinekit import boot, boot_both, debug_exit_status, ENGINES, offset_of, one_line


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
    ud_rip = 0x100000 + offset_of(kernel, "at_ud")
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
    offsets = [offset_of(kernel, name) for name in ("ret1", "ret2", "ret3")]
    want = f"11{offsets[0]:x} 01{offsets[1]:x} 00{offsets[2]:x} ".encode()
    assert (status, out, err) == (1, want, "")


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

# IRQ 0 -> vector 0x20 (`tick`), the PIC set up, a one-shot PIT of 10 ticks (about 8.4 us) armed,
# then 40,000 instructions with IF=0: the IRQ is pending when the snippet that follows runs.
IRQ0_PENDING = r"""
    mov edi, 0x20
    lea rsi, [rip + tick]
    mov edx, 0x8E
    call set_gate
    lidt [rip + idtr]
""" + PIC_INIT + r"""
    mov al, 0x30                    # channel 0, lobyte/hibyte, mode 0 (one-shot)
    out 0x43, al
    mov al, 10
    out 0x40, al
    mov al, 0
    out 0x40, al
    mov ecx, 20000
1:  dec ecx
    jnz 1b
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
    kernel = build("shadow", IRQ0_PENDING + r"""
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
    kernel = build("shadow1", IRQ0_PENDING + r"""
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
    kernel = build("iretq_if", IRQ0_PENDING + r"""
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
