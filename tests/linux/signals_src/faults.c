/* Guest faults turned into signals: SIGSEGV (unmapped, read-only, non-executable, non-canonical,
 * kernel address), SIGFPE, SIGILL, SIGTRAP, #GP; recovery by siglongjmp and by returning
 * from the handler (with the context edited), and the registers, flags and SSE state that
 * rt_sigreturn must restore. Prints only what the native run prints the same way. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

static sigjmp_buf env;
static char page[4096] __attribute__((aligned(4096)));
static struct {
    int signo, code, errno_, hits, df_in_handler;
    uintptr_t addr, rip;
    long trapno, err;
    unsigned mxcsr_in_handler;
} last;

static void record(siginfo_t *si, ucontext_t *uc) {
    last.signo = si->si_signo;
    last.code = si->si_code;
    last.errno_ = si->si_errno;
    last.addr = (uintptr_t)si->si_addr;
    last.rip = uc->uc_mcontext.gregs[REG_RIP];
    last.trapno = uc->uc_mcontext.gregs[REG_TRAPNO];
    last.err = uc->uc_mcontext.gregs[REG_ERR];
    last.hits++;
}

static void jump_back(int sig, siginfo_t *si, void *ctx) {
    record(si, ctx);
    siglongjmp(env, sig);
}

static void report(const char *what, int got) {
    printf("%-14s jumped %d signo %d code %d errno %d trapno %ld err %#lx\n",
           what, got, last.signo, last.code, last.errno_, last.trapno, last.err);
}

static void on(int sig, void (*fn)(int, siginfo_t *, void *), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO | flags;
    sigaction(sig, &sa, NULL);
}

/* SIGSEGV on a read-only page: make it writable and return, so the store is retried. */
static void unprotect(int sig, siginfo_t *si, void *ctx) {
    record(si, ctx);
    mprotect(page, sizeof page, PROT_READ | PROT_WRITE);
}

/* SIGILL on ud2: skip it, and change rbx so the interrupted code sees the edit. */
static void skip_ud2(int sig, siginfo_t *si, void *ctx) {
    ucontext_t *uc = ctx;
    unsigned long flags;
    unsigned mxcsr;
    record(si, ctx);
    __asm__ volatile("pushfq; pop %0; stmxcsr %1" : "=r"(flags), "=m"(mxcsr));
    last.df_in_handler = (flags >> 10) & 1;
    last.mxcsr_in_handler = mxcsr;
    __asm__ volatile("pxor %%xmm5, %%xmm5; pcmpeqd %%xmm6, %%xmm6" ::: "xmm5", "xmm6");
    uc->uc_mcontext.gregs[REG_RIP] += 2;
    uc->uc_mcontext.gregs[REG_RBX] += 1000;
}

/* SIGSEGV from hlt (#GP): skip the one-byte instruction. */
static void skip_hlt(int sig, siginfo_t *si, void *ctx) {
    record(si, ctx);
    ((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RIP] += 1;
}

static void from_trap(int sig, siginfo_t *si, void *ctx) {
    record(si, ctx);
}

__attribute__((noinline)) static int divide(int a, int b, uintptr_t *pc) {
    int q;
    __asm__ volatile("lea 1f(%%rip), %%rcx\n\tmov %%rcx, %1\n\tmov %2, %%eax\n\tcltd\n"
                     "1:\tidivl %3\n\tmov %%eax, %0"
                     : "=r"(q), "=m"(*pc) : "r"(a), "r"(b) : "rax", "rcx", "rdx", "cc");
    return q;
}

int main(void) {
    volatile int got;
    uintptr_t pc = 0;
    volatile int *volatile null16 = (int *)16;

    on(SIGSEGV, jump_back, 0);
    on(SIGFPE, jump_back, 0);
    if ((got = sigsetjmp(env, 1)) == 0)
        got = *(volatile int *)0;
    report("null read", got);
    printf("  addr %#lx\n", (unsigned long)last.addr);
    if ((got = sigsetjmp(env, 1)) == 0)
        *null16 = 1;
    report("null write", got);
    printf("  addr %#lx\n", (unsigned long)last.addr);

    got = page[0];          /* map the page in: a fault on a present page has err bit 0 (P) set */
    mprotect(page, sizeof page, PROT_READ);
    if ((got = sigsetjmp(env, 1)) == 0)
        page[100] = 1;
    report("read-only", got);
    printf("  addr is page+100: %d\n", last.addr == (uintptr_t)page + 100);

    if ((got = sigsetjmp(env, 1)) == 0)
        ((void (*)(void))page)();
    report("no-exec", got);
    printf("  addr is page: %d, rip is page: %d\n", last.addr == (uintptr_t)page,
           last.rip == (uintptr_t)page);

    {
        volatile char *none = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if ((got = sigsetjmp(env, 1)) == 0)
            got = *none;
        report("PROT_NONE", got);
        printf("  addr is the page: %d\n", last.addr == (uintptr_t)none);
        munmap((void *)none, 4096);
        if ((got = sigsetjmp(env, 1)) == 0)
            got = *none;
        report("unmapped", got);
    }

    if ((got = sigsetjmp(env, 1)) == 0)
        *(volatile char *)0x800000001000UL = 1;
    report("non-canonical", got);
    printf("  addr %#lx\n", (unsigned long)last.addr);
    if ((got = sigsetjmp(env, 1)) == 0)
        *(volatile char *)0xffff800000001000UL = 1;
    report("kernel addr", got);
    printf("  addr %#lx\n", (unsigned long)last.addr);

    if ((got = sigsetjmp(env, 1)) == 0)
        printf("quotient %d\n", divide(7, 0, &pc));
    report("divide by 0", got);
    printf("  addr is the idiv: %d, rip too: %d\n", last.addr == pc, last.rip == pc);
    printf("  mask after siglongjmp restores: %d\n", divide(9, 3, &pc));

    on(SIGSEGV, unprotect, 0);
    page[200] = 5;
    printf("retried store: %d (handler ran %d times in all)\n", page[200], last.hits);

    on(SIGILL, skip_ud2, 0);
    {
        long rbx, rcx, r11, r12, r15, cf, df;
        unsigned long xmm5, xmm6, mxcsr_after, mxcsr_before = 0x3F80 | (1 << 13);
        __asm__ volatile(
            "ldmxcsr %[mb]\n\t"
            "mov $0x1122334455667788, %%rax\n\tmovq %%rax, %%xmm5\n\t"
            "mov $5, %%rbx\n\tmov $12, %%r12\n\tmov $15, %%r15\n\tmov $77, %%rcx\n\tmov $11, %%r11\n\t"
            "std\n\tstc\n\t"
            "ud2\n\t"
            "setc %%al\n\tmovzbq %%al, %[cf]\n\t"
            "pushfq\n\tpop %[df]\n\tcld\n\t"
            "add $1, %%rbx\n\tmov %%rbx, %[rbx]\n\tmov %%r12, %[r12]\n\tmov %%r15, %[r15]\n\t"
            "mov %%rcx, %[rcx]\n\tmov %%r11, %[r11]\n\t"
            "movq %%xmm5, %[x5]\n\tmovq %%xmm6, %[x6]\n\tstmxcsr %[ma]\n\tldmxcsr %[md]"
            : [rbx] "=m"(rbx), [rcx] "=m"(rcx), [r11] "=m"(r11), [r12] "=m"(r12), [r15] "=m"(r15), [cf] "=r"(cf), [df] "=r"(df),
              [x5] "=m"(xmm5), [x6] "=m"(xmm6), [ma] "=m"(mxcsr_after)
            : [mb] "m"(mxcsr_before), [md] "m"((unsigned){0x1F80})
            : "rax", "rbx", "rcx", "r11", "r12", "r15", "xmm5", "xmm6", "cc", "memory");
        report("ud2", 0);
        printf("  rbx %ld rcx %ld r11 %ld r12 %ld r15 %ld CF %ld DF %ld DF in handler %d\n", rbx, rcx, r11, r12, r15, cf,
               (df >> 10) & 1, last.df_in_handler);
        printf("  xmm5 %#lx xmm6 %#lx mxcsr %#lx, in handler %#x\n", xmm5, xmm6, mxcsr_after,
               last.mxcsr_in_handler);
    }

    on(SIGSEGV, skip_hlt, 0);
    __asm__ volatile("hlt");
    report("hlt", 0);
    printf("  addr %#lx\n", (unsigned long)last.addr);

    on(SIGTRAP, from_trap, 0);
    {
        uintptr_t after;
        __asm__ volatile("int3\n1:\tlea 1b(%%rip), %0" : "=r"(after));
        report("int3", 0);
        printf("  addr %#lx, rip is after int3: %d\n", (unsigned long)last.addr, last.rip == after);
    }
    fflush(stdout);
    return 0;
}
