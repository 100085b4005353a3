/* entry.S: where an example kernel starts, and the interrupt stubs they share.
 *
 * The machine enters _start in 64-bit mode at CPL 0 with interrupts off,
 * RSP = 0x80000 and RDI = the boot info (MACHINE.md "Boot protocol").
 * _start calls kmain(bootinfo); a kmain that returns halts with IF=0, which
 * ends the run (status 0, "halted").
 *
 * isr_table[v] is the entry of vector v: it pushes a dummy error code when
 * the CPU pushes none, then the vector and every GPR, and calls
 * isr_dispatch(struct frame *) (idt.c). The handler may change the frame
 * (a fixed-up RIP, say); the stub restores it and returns with iretq. */
        .intel_syntax noprefix

        .section .text.entry, "ax"
        .globl  _start
_start:
        and     rsp, -16
        call    kmain
1:      cli
        hlt
        jmp     1b

        .text
/* Vectors for which the CPU pushes an error code. */
        .altmacro
        .macro  stub n
isr\n:
        .if (\n == 8) || ((\n >= 10) && (\n <= 14)) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
        .else
        push    0
        .endif
        push    \n
        jmp     isr_common
        .endm

        .set    vector, 0
        .rept   256
        stub    %vector
        .set    vector, vector + 1
        .endr

isr_common:
        push    rax
        push    rcx
        push    rdx
        push    rbx
        push    rbp
        push    rsi
        push    rdi
        push    r8
        push    r9
        push    r10
        push    r11
        push    r12
        push    r13
        push    r14
        push    r15
        mov     rdi, rsp                /* struct frame * */
        mov     rbx, rsp
        and     rsp, -16
        cld
        call    isr_dispatch
        mov     rsp, rbx
        pop     r15
        pop     r14
        pop     r13
        pop     r12
        pop     r11
        pop     r10
        pop     r9
        pop     r8
        pop     rdi
        pop     rsi
        pop     rbp
        pop     rbx
        pop     rdx
        pop     rcx
        pop     rax
        add     rsp, 16                 /* vector and error code */
        iretq

        .macro  entry_address n
        .quad   isr\n
        .endm

        .section .rodata
        .balign 8
        .globl  isr_table
isr_table:
        .set    vector, 0
        .rept   256
        entry_address %vector
        .set    vector, vector + 1
        .endr

        .section .note.GNU-stack, "", @progbits
