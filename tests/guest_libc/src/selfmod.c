/* selfmod.c: code written at run time, as a JIT or a trampoline does. A
 * function generated into a writable+executable mapping is called, patched
 * in place (its immediate, then a whole new body) and called again; a
 * W^X-style page is written, made executable with mprotect, run, made
 * writable and rewritten. The new code must run, never a stale translation.
 * Usage: selfmod [rounds] (default 200). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef long (*fn_t)(long);

/* mov eax, imm32 ; add rax, rdi ; ret */
static void emit_add(unsigned char *p, int32_t imm)
{
    static const unsigned char code[] = {0xb8, 0, 0, 0, 0, 0x48, 0x01, 0xf8, 0xc3};
    memcpy(p, code, sizeof code);
    memcpy(p + 1, &imm, 4);
}

/* mov rax, rdi ; imul rax, rax, imm32 ; ret */
static void emit_mul(unsigned char *p, int32_t imm)
{
    static const unsigned char code[] = {0x48, 0x89, 0xf8, 0x48, 0x69, 0xc0, 0, 0, 0, 0, 0xc3};
    memcpy(p, code, sizeof code);
    memcpy(p + 6, &imm, 4);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    unsigned char *rwx = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (rwx == MAP_FAILED) {
        printf("rwx mmap failed\n");
        return 1;
    }
    fn_t f = (fn_t)(void *)rwx;
    long sum = 0;
    for (int i = 0; i < rounds; i++) {
        emit_add(rwx, i);
        sum += f(1000);                       /* 1000 + i */
        rwx[1] = (unsigned char)(i * 3);      /* patch only the immediate's low byte */
        sum += f(1) * 7;
        if (i % 10 == 9) {
            emit_mul(rwx, i);
            sum += f(3);
        }
    }
    printf("rwx: rounds %d sum %ld\n", rounds, sum);

    unsigned char *wx = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fn_t g = (fn_t)(void *)(wx + 4096 - 4);   /* the code straddles two pages */
    long total = 0;
    for (int i = 0; i < rounds / 10 + 1; i++) {
        mprotect(wx, 8192, PROT_READ | PROT_WRITE);
        emit_add(wx + 4096 - 4, 100 * i);
        mprotect(wx, 8192, PROT_READ | PROT_EXEC);
        total += g(i);
    }
    printf("w^x: total %ld\n", total);
    munmap(wx, 8192);
    munmap(rwx, 4096);
    return 0;
}
