# hello.S: the smallest dbt guest. Writes a greeting with write(2) and
# leaves with exit_group(0); no libc, no stack use.
        .intel_syntax noprefix
        .globl _start
        .text
_start:
        mov     eax, 1                  # write
        mov     edi, 1                  # fd = stdout
        lea     rsi, [rip + msg]
        mov     edx, OFFSET msg_len
        syscall
        mov     eax, 231                # exit_group
        xor     edi, edi
        syscall

        .section .rodata
msg:    .ascii  "Hello from dbt!\n"
        .set    msg_len, . - msg
        .section .note.GNU-stack, "", @progbits
