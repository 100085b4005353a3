/* signals.c: SIGSEGV and SIGFPE handlers that recover, with the siginfo the
 * kernel gives (si_signo, si_code, si_addr); a handler that fixes the fault
 * and returns so the instruction runs again; raise/kill with handlers;
 * a blocked signal delivered when it is unblocked; a handler on an
 * alternate stack; a handler that edits the interrupted context (skips the
 * faulting instruction, sets a register); SA_RESETHAND; a timer signal
 * (setitimer) that interrupts a loop making no syscalls; and last, death by
 * an unhandled SIGTERM (exit status 143).
 * Usage: signals [spin]: the most iterations to wait for the timer (3e8;
 * 0 leaves the timer out). */
#define _GNU_SOURCE
#include <limits.h>
#include <setjmp.h>
#include <stdlib.h>
#include <sys/time.h>
#include <ucontext.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static sigjmp_buf recover;
static volatile sig_atomic_t last_signo, last_code, handled;
static void *volatile last_addr;
static char *volatile fix_page;
static volatile int usr_count;

static void on_fault(int sig, siginfo_t *info, void *uctx)
{
    (void)uctx;
    last_signo = sig;
    last_code = info->si_code;
    last_addr = info->si_addr;
    handled++;
    siglongjmp(recover, 1);
}

static void on_fault_fix(int sig, siginfo_t *info, void *uctx)
{
    (void)sig; (void)uctx;
    handled++;
    last_addr = info->si_addr;
    last_code = info->si_code;
    mprotect(fix_page, 4096, PROT_READ | PROT_WRITE);     /* then return: the store runs again */
}

static void on_usr(int sig)
{
    usr_count += sig == SIGUSR1 ? 1 : 100;
}

static char altstack[64 * 1024];
static volatile int on_altstack, mask_had_self, alarms;

static void on_alt(int sig)
{
    char here;
    sigset_t now;
    on_altstack = &here >= altstack && &here < altstack + sizeof altstack;
    sigprocmask(SIG_BLOCK, NULL, &now);
    mask_had_self = sigismember(&now, sig);
}

static void on_fault_skip(int sig, siginfo_t *info, void *uctx)
{
    ucontext_t *uc = uctx;
    (void)sig; (void)info;
    uc->uc_mcontext.gregs[REG_RIP] += 2;          /* the 2-byte load below */
    uc->uc_mcontext.gregs[REG_RAX] = 4242;
}

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static void install(int sig, void (*fn)(int, siginfo_t *, void *))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0)
        printf("sigaction %d failed\n", sig);
}

static void segv_case(const char *what, volatile char *addr, int write)
{
    last_signo = last_code = 0;
    last_addr = NULL;
    if (sigsetjmp(recover, 1) == 0) {
        if (write)
            *addr = 1;
        else
            (void)*addr;
        printf("%s: no fault\n", what);
        return;
    }
    printf("%s: signal %d code %d addr matches %d\n", what, (int)last_signo, (int)last_code,
           last_addr == (void *)addr);
}

static void fpe_case(const char *what, volatile int a, volatile int b)
{
    last_signo = last_code = 0;
    if (sigsetjmp(recover, 1) == 0) {
        volatile int q = a / b;
        printf("%s: no fault, %d\n", what, q);
        return;
    }
    printf("%s: signal %d code %d\n", what, (int)last_signo, (int)last_code);
}

static void context_and_stacks(char *argv1)
{
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
    printf("sigaltstack %d\n", sigaltstack(&ss, NULL));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alt;
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
    sigaction(SIGUSR2, &sa, NULL);
    raise(SIGUSR2);
    struct sigaction now;
    sigaction(SIGUSR2, NULL, &now);
    printf("altstack handler: on altstack %d own signal blocked %d reset to default %d\n",
           on_altstack, mask_had_self, now.sa_handler == SIG_DFL);

    install(SIGSEGV, on_fault_skip);
    long rax;
    __asm__ volatile("xor %%eax, %%eax\n\tmov (%%rax), %%eax" : "=a"(rax) : : "memory");
    printf("context edited by handler: rax %ld\n", rax);

    long spin = argv1 ? atol(argv1) : 300000000L;
    if (spin == 0)
        return;
    signal(SIGALRM, on_alarm);
    struct itimerval it = {{0, 0}, {0, 20000}};
    printf("setitimer %d\n", setitimer(ITIMER_REAL, &it, NULL));
    volatile long i = 0;
    while (!alarms && i < spin)
        i++;
    printf("timer interrupted the loop %d\n", alarms == 1);
}

int main(int argc, char **argv)
{
    install(SIGSEGV, on_fault);
    install(SIGFPE, on_fault);

    char *ro = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *gone = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(gone, 4096);
    for (int round = 0; round < 3; round++) {
        segv_case("null read", (volatile char *)0, 0);
        segv_case("null write", (volatile char *)16, 1);
        segv_case("read-only write", ro + 100, 1);
        segv_case("unmapped read", gone + 5, 0);
        segv_case("high address", (volatile char *)(uintptr_t)0xffff800000001000ULL, 0);
        fpe_case("divide by zero", 7, 0);
        fpe_case("INT_MIN / -1", INT_MIN, -1);
    }
    printf("read-only page still reads %d\n", ro[100]);
    printf("handled %d\n", (int)handled);

    install(SIGSEGV, on_fault_fix);
    fix_page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    fix_page[123] = 42;
    printf("fixed by handler: value %d handled %d code %d addr matches %d\n", fix_page[123],
           (int)handled, (int)last_code, last_addr == fix_page + 123);

    signal(SIGUSR1, on_usr);
    signal(SIGUSR2, on_usr);
    raise(SIGUSR1);
    kill(getpid(), SIGUSR2);
    printf("usr count %d\n", usr_count);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    raise(SIGUSR1);
    printf("while blocked %d\n", usr_count);
    sigset_t pending;
    sigpending(&pending);
    printf("pending usr1 %d\n", sigismember(&pending, SIGUSR1));
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    printf("after unblock %d\n", usr_count);
    signal(SIGUSR1, SIG_IGN);
    raise(SIGUSR1);
    printf("ignored %d\n", usr_count);
    context_and_stacks(argc > 1 ? argv[1] : NULL);
    fflush(stdout);
    signal(SIGTERM, SIG_DFL);
    raise(SIGTERM);
    printf("not reached\n");
    return 0;
}
