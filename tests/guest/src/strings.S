# strings.S: the string instructions, hand-written so the compiler cannot
# pick others: rep movsb/movsq, rep stosb/stosq, repe cmpsb, repne scasb,
# lodsb, forwards (cld) and backwards (std). Prints every result, including
# the final rsi/rdi/rcx, so a wrong count or direction shows up.
        .intel_syntax noprefix

# SAY "text": write a string literal to stdout.
        .macro SAY text
        .section .rodata
.Lsay\@: .ascii "\text"
.Lsay_end\@:
        .text
        lea     rsi, [rip + .Lsay\@]
        mov     edx, OFFSET .Lsay_end\@ - .Lsay\@
        call    write_out
        .endm

        .text
# write_out: write(1, rsi, rdx). Clobbers rax, rdi, rcx, r11.
write_out:
        mov     eax, 1
        mov     edi, 1
        syscall
        ret

# put_hex: print rax as 16 hex digits and a newline. The digits are stored
# last to first with std; stosb, so this routine uses DF=1 itself.
put_hex:
        push    rbx
        lea     rbx, [rip + digits]
        lea     rdi, [rip + hexbuf + 15]
        mov     rdx, rax
        mov     ecx, 16
        std
1:      mov     eax, edx
        and     eax, 15
        mov     al, [rbx + rax]
        stosb
        shr     rdx, 4
        dec     ecx
        jnz     1b
        cld
        lea     rsi, [rip + hexbuf]
        mov     edx, 17
        call    write_out
        pop     rbx
        ret

        .globl _start
_start:
        # rep movsb forwards: copy the fox sentence, print it and the
        # final rcx and rdi offset.
        lea     rsi, [rip + fox]
        lea     rdi, [rip + buf]
        mov     ecx, OFFSET fox_len
        cld
        rep movsb
        mov     rbx, rdi
        mov     r12, rcx
        lea     rsi, [rip + buf]
        mov     edx, OFFSET fox_len
        call    write_out
        SAY     "movsb rcx="
        mov     rax, r12
        call    put_hex
        SAY     "movsb rdi-buf="
        lea     rax, [rip + buf]
        sub     rbx, rax
        mov     rax, rbx
        call    put_hex

        # rep stosb: 20 'x' and a newline.
        lea     rdi, [rip + buf]
        mov     al, 'x'
        mov     ecx, 20
        rep stosb
        mov     byte ptr [rdi], 10
        lea     rsi, [rip + buf]
        mov     edx, 21
        call    write_out

        # rep stosq: 4 qwords of '-', then a newline.
        lea     rdi, [rip + buf]
        movabs  rax, 0x2d2d2d2d2d2d2d2d
        mov     ecx, 4
        rep stosq
        mov     byte ptr [rdi], 10
        lea     rsi, [rip + buf]
        mov     edx, 33
        call    write_out

        # rep movsq: the first 40 bytes of the fox sentence, then a newline.
        lea     rsi, [rip + fox]
        lea     rdi, [rip + buf]
        mov     ecx, 5
        rep movsq
        mov     byte ptr [rdi], 10
        lea     rsi, [rip + buf]
        mov     edx, 41
        call    write_out

        # std; rep movsb: an overlapping move 3 bytes up, done backwards.
        lea     rsi, [rip + digits16]
        lea     rdi, [rip + buf]
        mov     ecx, 16
        rep movsb
        lea     rsi, [rip + buf + 9]
        lea     rdi, [rip + buf + 12]
        mov     ecx, 10
        std
        pushfq
        rep movsb
        cld
        pushfq
        mov     byte ptr [rip + buf + 16], 10
        lea     rsi, [rip + buf]
        mov     edx, 17
        call    write_out
        SAY     "df after cld="
        pop     rax
        and     eax, 0x400
        call    put_hex
        SAY     "df after std="
        pop     rax
        and     eax, 0x400
        call    put_hex

        # std; lodsb: read "stressed" backwards, store forwards by hand.
        lea     rsi, [rip + stressed + 7]
        lea     rdi, [rip + buf]
        mov     ecx, 8
        std
2:      lodsb
        mov     [rdi], al
        inc     rdi
        dec     ecx
        jnz     2b
        cld
        mov     byte ptr [rdi], 10
        lea     rsi, [rip + buf]
        mov     edx, 9
        call    write_out

        # repe cmpsb on different strings: where they differ, rcx left.
        lea     rsi, [rip + hello_world]
        lea     rdi, [rip + hello_there]
        mov     ecx, 11
        repe cmpsb
        setz    bl
        mov     r12, rcx
        lea     rax, [rip + hello_world + 1]
        sub     rsi, rax
        mov     r13, rsi
        SAY     "cmpsb differ at="
        mov     rax, r13
        call    put_hex
        SAY     "cmpsb rcx="
        mov     rax, r12
        call    put_hex
        SAY     "cmpsb zf="
        movzx   eax, bl
        call    put_hex

        # repe cmpsb on equal prefixes: runs out of rcx with ZF set.
        lea     rsi, [rip + hello_world]
        lea     rdi, [rip + hello_there]
        mov     ecx, 6
        repe cmpsb
        setz    bl
        mov     r12, rcx
        SAY     "cmpsb equal zf="
        movzx   eax, bl
        call    put_hex
        SAY     "cmpsb equal rcx="
        mov     rax, r12
        call    put_hex

        # repne scasb: strlen of the fox sentence (NUL-terminated).
        lea     rdi, [rip + fox]
        xor     eax, eax
        mov     rcx, -1
        repne scasb
        not     rcx
        dec     rcx
        mov     r12, rcx
        SAY     "scasb strlen="
        mov     rax, r12
        call    put_hex

        # repne scasb: index of the first 'q', or rcx=0 if missing.
        lea     rdi, [rip + fox]
        mov     al, 'q'
        mov     ecx, OFFSET fox_len
        repne scasb
        lea     rax, [rip + fox + 1]
        sub     rdi, rax
        mov     r12, rdi
        SAY     "scasb q at="
        mov     rax, r12
        call    put_hex
        lea     rdi, [rip + fox]
        mov     al, '@'
        mov     ecx, OFFSET fox_len
        repne scasb
        setnz   bl
        mov     r12, rcx
        SAY     "scasb @ rcx="
        mov     rax, r12
        call    put_hex
        SAY     "scasb @ zf-clear="
        movzx   eax, bl
        call    put_hex

        # lodsb: a rolling checksum of the fox sentence.
        lea     rsi, [rip + fox]
        mov     ecx, OFFSET fox_len
        xor     ebx, ebx
3:      lodsb
        movzx   eax, al
        imul    rbx, rbx, 31
        add     rbx, rax
        dec     ecx
        jnz     3b
        SAY     "lodsb sum="
        mov     rax, rbx
        call    put_hex

        mov     eax, 231                # exit_group(0)
        xor     edi, edi
        syscall

        .section .rodata
fox:    .ascii  "The quick brown fox jumps over the lazy dog\n"
        .set    fox_len, . - fox
        .byte   0
digits16: .ascii "0123456789ABCDEF"
stressed: .ascii "stressed"
hello_world: .ascii "hello world"
hello_there: .ascii "hello there"
digits: .ascii  "0123456789abcdef"

        .data
hexbuf: .ascii  "0000000000000000\n"

        .bss
buf:    .skip   256
        .section .note.GNU-stack, "", @progbits
