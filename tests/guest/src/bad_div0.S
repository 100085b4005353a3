# bad_div0.S: prints a line, then divides by zero. Natively SIGFPE
# (status 136).
        .intel_syntax noprefix
        .globl _start
        .text
_start:
        mov     eax, 1
        mov     edi, 1
        lea     rsi, [rip + msg]
        mov     edx, OFFSET msg_len
        syscall
        mov     eax, 1234
        xor     edx, edx
        xor     ecx, ecx
        .globl fault_pc
fault_pc:
        div     rcx
        mov     eax, 231
        xor     edi, edi
        syscall

        .section .rodata
msg:    .ascii  "before div by zero\n"
        .set    msg_len, . - msg
        .section .note.GNU-stack, "", @progbits
