# Indirect calls to two routines whose jump-cache entries collide (dbt's native jump
# cache is indexed by ((pc >> 12) ^ pc) mod 4096): `other` is called once, after `target`,
# taking its entry; then `target` is called 100000 times. Prints "jump cache ok".
        .intel_syntax noprefix
        .globl _start
        .text
_start:
        lea     rbx, [rip + target]
        lea     rbp, [rip + other]
        call    rbx
        call    rbp
        mov     r12d, 100000
1:      call    rbx
        dec     r12d
        jnz     1b
        mov     eax, 1
        mov     edi, 1
        lea     rsi, [rip + msg]
        mov     edx, OFFSET msg_end - msg
        syscall
        mov     eax, 60
        xor     edi, edi
        syscall

        .p2align 13                     # page P, P even
target: ret
        .org    target + 0x1001         # page P + 1, offset 1: ((P+1) ^ 1) == P
other:  ret

        .section .rodata
msg:    .ascii  "jump cache ok\n"
msg_end:
