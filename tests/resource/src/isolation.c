/* Memory isolation probes: loads, stores and jumps at and beyond the edges of the address space
 * (the end of dbt's 64 GiB guest space, 2^47, 2^63, near 2^64, negative offsets), accesses that
 * straddle pages of mixed permissions, code on a non-executable page, MAP_FIXED over the
 * program's own code, and syscalls given such pointers. Each probe prints one line: the signal
 * with its si_code and si_addr (relative to the probe's mapping when inside it), or the result
 * and errno. Built with musl-gcc -static; the native run's output is the expected one. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define PAGE 4096UL
#define SPACE_END (1UL << 36)            /* the end of dbt's guest space */

/* victim: alone on its page, so MAP_FIXED can replace that page and nothing else. */
__asm__(".pushsection .text.victim,\"ax\"\n.balign 4096\n.globl victim\nvictim:\n mov $7, %eax\n ret\n"
        ".balign 4096\n.popsection\n");
int victim(void);

static sigjmp_buf env;
static uintptr_t base;                   /* the probe's mapping: addresses inside print as base+off */
static struct { int signo, code; uintptr_t addr; uint64_t rax, rdx; } last;

static void handler(int sig, siginfo_t *si, void *ctx) {
    last.signo = sig;
    last.code = si->si_code;
    last.addr = (uintptr_t)si->si_addr;
    last.rax = ((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RAX];
    last.rdx = ((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RDX];
    siglongjmp(env, 1);
}

static void show_addr(uintptr_t a) {
    if (base && a >= base && a < base + 4 * PAGE)
        printf("base+%#lx", (unsigned long)(a - base));
    else
        printf("%#lx", (unsigned long)a);
}

#define PROBE(name, stmt)                                                            \
    do {                                                                             \
        if (sigsetjmp(env, 1) == 0) {                                                \
            stmt;                                                                    \
            printf("%-34s no fault\n", name);                                        \
        } else {                                                                     \
            printf("%-34s signo %d code %d addr ", name, last.signo, last.code);   \
            show_addr(last.addr);                                                    \
            printf("\n");                                                            \
        }                                                                            \
        fflush(stdout);                                                              \
    } while (0)

static volatile uint64_t sink;
static uint64_t load8(uintptr_t a) { return *(volatile uint64_t *)a; }
static uint16_t load2(uintptr_t a) { return *(volatile uint16_t *)a; }
static void store8(uintptr_t a, uint64_t v) { *(volatile uint64_t *)a = v; }
static void call(uintptr_t a) { ((void (*)(void))a)(); }

/* rep movsb of n bytes: a fault part way leaves the bytes before it copied and rcx counting. */
static uint64_t rep_movsb(uintptr_t dst, uintptr_t src, uint64_t n) {
    __asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
    return n;
}

/* Accesses through one base at nearby offsets (dbt checks such a group once): the last one
 * faults, the ones before it must have happened. */
static void grouped_stores(uintptr_t a) {
    __asm__ volatile("movq $1, 8(%0)\n movq $2, (%0)\n movq $3, 16(%0)\n movq $4, 24(%0)"
                     : : "r"(a) : "memory");
}

static void grouped_loads(uintptr_t a) {
    __asm__ volatile("xor %%eax, %%eax\n xor %%edx, %%edx\n"
                     "mov 8(%0), %%rax\n mov (%0), %%edx\n mov 16(%0), %%rcx"
                     : : "r"(a) : "rax", "rdx", "rcx", "memory");
}

static void read_modify_write(uintptr_t a) {
    __asm__ volatile("addq $0x10, (%0)\n addq $0x20, 8(%0)" : : "r"(a) : "memory");
}

static void show_bytes(const char *name, uintptr_t a, int n) {
    printf("%-34s", name);
    for (int i = 0; i < n; i++)
        printf(" %02x", ((volatile uint8_t *)a)[i]);
    printf("\n");
}

static void show_ret(const char *name, long ret) {
    printf("%-34s ret %ld errno %d\n", name, ret, ret < 0 ? errno : 0);
    fflush(stdout);
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);

    /* Edges of the address space, and negative offsets from null. */
    PROBE("load at 0", sink = load8(0));
    PROBE("load at -8 (0 - 8)", sink = load8((uintptr_t)0 - 8));
    PROBE("load at -4096 (0 - 4096)", sink = load8((uintptr_t)0 - 4096));
    PROBE("load straddling 2^64 (-4)", sink = load8((uintptr_t)0 - 4));
    PROBE("load2 straddling 2^64 (-1)", sink = load2((uintptr_t)0 - 1));
    PROBE("load at space end - 8", sink = load8(SPACE_END - 8));
    PROBE("load straddling space end", sink = load8(SPACE_END - 4));
    PROBE("load at space end", sink = load8(SPACE_END));
    PROBE("store at space end", store8(SPACE_END, 1));
    PROBE("load at 2^47 - 8", sink = load8((1UL << 47) - 8));
    PROBE("load straddling 2^47", sink = load8((1UL << 47) - 4));
    PROBE("load at 2^47 (non-canonical)", sink = load8(1UL << 47));
    PROBE("store at 2^63 (non-canonical)", store8(1UL << 63, 1));
    PROBE("jump to 0", call(0));
    PROBE("jump to space end", call(SPACE_END));
    PROBE("jump to 2^63", call(1UL << 63));
    PROBE("jump to -16", call((uintptr_t)0 - 16));

    /* Three pages: rw | r | none. */
    uint8_t *p = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    base = (uintptr_t)p;
    memset(p, 0x11, PAGE);
    memset(p + PAGE, 0x22, PAGE);
    mprotect(p + PAGE, PAGE, PROT_READ);
    mprotect(p + 2 * PAGE, PAGE, PROT_NONE);
    PROBE("load straddling rw|r", sink = load8(base + PAGE - 4));
    printf("%-34s %#lx\n", "  value", (unsigned long)sink);
    PROBE("store straddling rw|r", store8(base + PAGE - 4, 0x3333333333333333UL));
    show_bytes("  bytes before the r page", base + PAGE - 4, 8);
    PROBE("store to r page (mprotect READ)", store8(base + PAGE, 5));
    PROBE("load straddling r|none", sink = load8(base + 2 * PAGE - 2));
    PROBE("load from none page", sink = load8(base + 2 * PAGE));
    memset(p, 0x44, 16);                  /* the bytes rep movsb copies, unlike what it overwrites */
    uint64_t left = 99;
    PROBE("rep movsb into the r page", left = rep_movsb(base + PAGE - 8, base, 16));
    show_bytes("  bytes the copy reached", base + PAGE - 8, 8);
    PROBE("rep movsb from the none page", left = rep_movsb(base, base + 2 * PAGE - 4, 8));
    show_bytes("  bytes the copy reached", base, 8);
    (void)left;
    PROBE("grouped stores into the r page", grouped_stores(base + PAGE - 16));
    show_bytes("  bytes the stores reached", base + PAGE - 16, 16);
    PROBE("grouped stores inside the rw page", grouped_stores(base + PAGE - 32));
    show_bytes("  bytes the stores reached", base + PAGE - 32, 32);
    PROBE("read-modify-writes into the r page", read_modify_write(base + PAGE - 8));
    show_bytes("  bytes the first one changed", base + PAGE - 8, 16);
    PROBE("grouped loads into the none page", grouped_loads(base + 2 * PAGE - 16));
    printf("%-34s rax %#lx rdx %#lx\n", "  registers at the fault", (unsigned long)last.rax,
           (unsigned long)last.rdx);
    p[0] = 0xc3;                          /* ret, on a page without PROT_EXEC */
    PROBE("call into rw (non-exec) page", call(base));
    mprotect(p, PAGE, PROT_READ | PROT_EXEC);
    PROBE("call after mprotect READ|EXEC", call(base));

    /* An instruction that starts on an executable page and ends on one that is not (or is gone). */
    uint8_t *q = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    static const uint8_t movabs_ret[] = {0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 0xc3};  /* movabs rax, imm; ret */
    memcpy(q + PAGE - 2, movabs_ret, sizeof movabs_ret);
    mprotect(q, PAGE, PROT_READ | PROT_EXEC);
    mprotect(q + PAGE, PAGE, PROT_READ);
    base = (uintptr_t)q;
    PROBE("insn straddling x|r pages", call(base + PAGE - 2));
    munmap(q + PAGE, PAGE);
    PROBE("insn straddling x|unmapped pages", call(base + PAGE - 2));
    mprotect(q, PAGE, PROT_READ | PROT_WRITE);
    q[PAGE - 3] = 0x90;                   /* nop; then the movabs cut by the page end */
    q[PAGE - 2] = 0x48;
    q[PAGE - 1] = 0xb8;
    mprotect(q, PAGE, PROT_READ | PROT_EXEC);
    PROBE("nop then insn cut by unmapped page", call(base + PAGE - 3));

    /* MAP_FIXED over the program's own code. */
    uintptr_t code = (uintptr_t)victim;
    printf("%-34s %d\n", "victim before", victim());
    void *m = mmap((void *)code, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("%-34s %s\n", "MAP_FIXED rwx over victim", m == (void *)code ? "same address" : "moved");
    static const uint8_t ret42[] = {0xb8, 42, 0, 0, 0, 0xc3};   /* mov eax, 42; ret */
    memcpy((void *)code, ret42, sizeof ret42);
    printf("%-34s %d\n", "victim rewritten", victim());
    m = mmap((void *)code, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    base = code;
    PROBE("call victim after MAP_FIXED READ", victim());
    munmap((void *)code, PAGE);
    PROBE("call victim after munmap", victim());

    /* Syscalls given such pointers: EFAULT, never a host fault; impossible sizes: ENOMEM/EINVAL. */
    base = (uintptr_t)p;
    show_ret("write from 0", syscall(SYS_write, 1, 0, 8));
    show_ret("write from space end", syscall(SYS_write, 1, SPACE_END, 8));
    show_ret("write from 2^63", syscall(SYS_write, 1, 1UL << 63, 8));
    show_ret("write from -8", syscall(SYS_write, 1, (uintptr_t)0 - 8, 8));
    show_ret("write from the none page", syscall(SYS_write, 1, base + 2 * PAGE, 8));
    int zero = open("/dev/zero", O_RDONLY);
    show_ret("read into the r page", syscall(SYS_read, zero, base + PAGE, 8));
    show_ret("read into space end", syscall(SYS_read, zero, SPACE_END, 8));
    show_ret("read into -8", syscall(SYS_read, zero, (uintptr_t)0 - 8, 8));
    show_ret("clock_gettime into 8", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, 8));
    show_ret("clock_gettime into the r page", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, base + PAGE));
    show_ret("rt_sigaction from 2^63", syscall(SYS_rt_sigaction, SIGUSR1, 1UL << 63, 0, 8));
    show_ret("mmap 2^62 bytes", (long)syscall(SYS_mmap, 0, 1UL << 62, PROT_READ | PROT_WRITE,
                                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    show_ret("mmap 2^64 - 4096 bytes", (long)syscall(SYS_mmap, 0, (uintptr_t)0 - PAGE, PROT_READ,
                                                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    show_ret("munmap 2^63 bytes", syscall(SYS_munmap, base, 1UL << 63));
    show_ret("mprotect of unmapped 0x1000", syscall(SYS_mprotect, 0x1000, PAGE, PROT_READ));
    show_ret("mprotect wrapping 2^64", syscall(SYS_mprotect, base, (uintptr_t)0 - PAGE, PROT_READ));
    long brk0 = syscall(SYS_brk, 0);
    printf("%-34s %s\n", "brk(2^62) refused", syscall(SYS_brk, 1UL << 62) == brk0 ? "yes" : "no");
    printf("%-34s %#lx\n", "final r page byte", (unsigned long)p[PAGE]);
    return 0;
}
