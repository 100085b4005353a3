# bad_segv.S: prints a line, then loads from address 0x10. Natively SIGSEGV
# (status 139); dbt must name the address.
        .intel_syntax noprefix
        .globl _start
        .text
_start:
        mov     eax, 1
        mov     edi, 1
        lea     rsi, [rip + msg]
        mov     edx, OFFSET msg_len
        syscall
        mov     ebx, 0x10
        .globl fault_pc
fault_pc:
        mov     rax, [rbx]
        mov     eax, 231
        xor     edi, edi
        syscall

        .section .rodata
msg:    .ascii  "before load from 0x10\n"
        .set    msg_len, . - msg
        .section .note.GNU-stack, "", @progbits
