/* Loops running into pages that refuse them: upward, downward, with unaligned accesses that
 * straddle pages, with a stride of more than a page, storing into a read-only page, and a
 * page made inaccessible by the loop itself (mprotect between two of its loads). Translated
 * loops remember the page an access last passed its check on (dbt/backend/llvm/region.py
 * page_check), so each probe checks that the fault still comes at exactly the right access:
 * it prints the signal, si_addr and the registers at the fault (those pointing into the
 * probe's mapping as base+offset), and what the loop stored before it. Built static
 * (tests/resource/budgetkit.py); the native run's output is the expected one. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#define PAGE 4096UL
#define PAGES 4

static sigjmp_buf env;
static uintptr_t base;
static struct { int signo, code; uintptr_t addr; greg_t regs[NGREG]; } last;
static const int shown[] = {REG_RAX, REG_RBX, REG_RCX, REG_RDX, REG_RSI, REG_RDI, REG_R8, REG_R9,
                            REG_R10, REG_R11, REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP};
static const char *names[] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
                              "r12", "r13", "r14", "r15", "rip"};

static void handler(int sig, siginfo_t *si, void *ctx) {
    last.signo = sig;
    last.code = si->si_code;
    last.addr = (uintptr_t)si->si_addr;
    memcpy(last.regs, ((ucontext_t *)ctx)->uc_mcontext.gregs, sizeof last.regs);
    siglongjmp(env, 1);
}

/* A value as both runs agree on it: an address in (or just around) the mapping relative to
 * it, a small number as it is, anything else (the stack) by its kind only. */
static void show(const char *name, uint64_t v) {
    if (v >= base - PAGE && v < base + (PAGES + 1) * PAGE)
        printf(" %s=base%+ld", name, (long)(v - base));
    else if (v < (1UL << 32))
        printf(" %s=%#lx", name, (unsigned long)v);
    else
        printf(" %s=big", name);
}

static uint64_t checksum(void) {
    uint64_t sum = 0;
    for (unsigned long i = 0; i < PAGES * PAGE; i += 8) {
        uint64_t word;
        if (mprotect((void *)(base + (i & ~(PAGE - 1))), PAGE, PROT_READ) == 0) {
            memcpy(&word, (void *)(base + i), 8);
            sum = sum * 31 + word;
        }
    }
    return sum;
}

/* Maps PAGES read-write pages of a known pattern, then gives page i the protection prot[i]. */
static void setup(const int *prot) {
    munmap((void *)base, PAGES * PAGE);
    base = (uintptr_t)mmap(0, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (unsigned long i = 0; i < PAGES * PAGE; i++)
        ((unsigned char *)base)[i] = (unsigned char)(i * 7 + 3);
    for (int i = 0; i < PAGES; i++)
        mprotect((void *)(base + i * PAGE), PAGE, prot[i]);
}

#define PROBE(name, stmt)                                                            \
    do {                                                                             \
        if (sigsetjmp(env, 1) == 0) {                                                \
            uint64_t result = (stmt);                                                \
            printf("%-22s no fault, result %#lx", name, (unsigned long)result);      \
        } else {                                                                     \
            printf("%-22s signo %d code %d addr base%+ld", name, last.signo, last.code, \
                   (long)(last.addr - base));                                        \
            for (unsigned i = 0; i < sizeof shown / sizeof shown[0]; i++)            \
                show(names[i], (uint64_t)last.regs[shown[i]]);                       \
        }                                                                            \
        printf(" memory %#lx\n", (unsigned long)checksum());                         \
        fflush(stdout);                                                              \
    } while (0)

__attribute__((noinline)) static uint64_t sum_up(const uint32_t *p, long n) {
    uint64_t s = 0;
    for (long i = 0; i < n; i++)
        s = s * 3 + p[i];
    return s;
}

__attribute__((noinline)) static uint64_t sum_down(const unsigned char *p, long n) {
    uint64_t s = 0;
    for (long i = 0; i < n; i++)
        s = s * 5 + p[-i];
    return s;
}

/* n 4-byte loads from p, p + step, p + 2 * step, ... (step may be negative). */
__attribute__((noinline)) static uint64_t sum_unaligned(const unsigned char *p, long n, long step) {
    uint64_t s = 0;
    for (long i = 0; n-- > 0; i += step) {
        uint32_t word;
        memcpy(&word, p + i, 4);
        s = s * 7 + word;
    }
    return s;
}

__attribute__((noinline)) static uint64_t fill_up(uint32_t *p, long n) {
    for (long i = 0; i < n; i++)
        p[i] = (uint32_t)(i * 2654435761u);
    return n;
}

__attribute__((noinline)) static uint64_t sum_strided(const uint32_t *p, long n, long stride) {
    uint64_t s = 0;
    for (long i = 0; i < n; i++)
        s = s * 11 + p[i * stride];
    return s;
}

/* Reads its page, and at iteration `when` takes read access away from it (a syscall in the loop). */
__attribute__((noinline)) static uint64_t revoke_midway(const uint32_t *p, long n, long when) {
    uint64_t s = 0;
    for (long i = 0; i < n; i++) {
        if (i == when)
            mprotect((void *)((uintptr_t)p & ~(PAGE - 1)), PAGE, PROT_NONE);
        s = s * 13 + p[i & 255];
    }
    return s;
}

int main(void) {
    struct sigaction sa = {0};
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, 0);
    sigaction(SIGBUS, &sa, 0);
    const int rw = PROT_READ | PROT_WRITE, r = PROT_READ, none = PROT_NONE;
    for (int round = 0; round < 3; round++) {      /* again and again: the loops are hot by then */
        printf("round %d\n", round);
        setup((int[]){rw, rw, none, rw});
        PROBE("up into none", sum_up((uint32_t *)(base + 100), 3 * PAGE / 4));
        setup((int[]){rw, none, rw, rw});
        PROBE("down into none", sum_down((unsigned char *)(base + 3 * PAGE + 50), 3 * PAGE));
        setup((int[]){none, rw, rw, rw});
        PROBE("down to the first page", sum_down((unsigned char *)(base + 4 * PAGE - 1), 4 * PAGE));
        setup((int[]){rw, rw, none, rw});
        PROBE("unaligned across", sum_unaligned((unsigned char *)(base + 2), 3 * PAGE / 4, 4));
        setup((int[]){rw, rw, none, rw});
        PROBE("bytewise straddle", sum_unaligned((unsigned char *)(base + PAGE + 4000), 2 * PAGE, 1));
        setup((int[]){none, rw, rw, rw});
        PROBE("unaligned down", sum_unaligned((unsigned char *)(base + 3 * PAGE + 2), 3 * PAGE / 4, -4));
        setup((int[]){rw, none, rw, rw});
        PROBE("bytewise down", sum_unaligned((unsigned char *)(base + 2 * PAGE + 90), 2 * PAGE, -1));
        setup((int[]){rw, rw, r, rw});
        PROBE("store into read-only", fill_up((uint32_t *)(base + 8), PAGES * PAGE / 4));
        setup((int[]){rw, rw, rw, none});
        PROBE("stride over a page", sum_strided((uint32_t *)(base + 12), 8, (PAGE + 4) / 4));
        setup((int[]){rw, rw, rw, rw});
        PROBE("whole mapping", sum_up((uint32_t *)base, PAGES * PAGE / 4));
        setup((int[]){rw, rw, rw, rw});
        PROBE("revoked midway", revoke_midway((uint32_t *)(base + PAGE), 1000, 500 + round));
    }
    return 0;
}
