# bad_ud2.S: prints a line, then executes ud2. Natively SIGILL (status 132);
# dbt must report the faulting PC and the mnemonic.
        .intel_syntax noprefix
        .globl _start
        .text
_start:
        mov     eax, 1
        mov     edi, 1
        lea     rsi, [rip + msg]
        mov     edx, OFFSET msg_len
        syscall
        .globl fault_pc
fault_pc:
        ud2

        .section .rodata
msg:    .ascii  "before ud2\n"
        .set    msg_len, . - msg
        .section .note.GNU-stack, "", @progbits
