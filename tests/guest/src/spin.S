# Prints "ready" then spins forever: the Ctrl-C test stops it.
.intel_syntax noprefix
.globl _start
_start:
    mov eax, 1
    mov edi, 1
    lea rsi, [rip + msg]
    mov edx, 6
    syscall
1:  inc rcx
    jmp 1b
msg: .ascii "ready\n"
