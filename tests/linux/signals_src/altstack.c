/* sigaltstack: queries, errors, handlers on and off the alternate stack, nesting on it,
 * SS_AUTODISARM, and a stack overflow caught on the alternate stack. With the argument
 * "noalt" the overflow handler has no alternate stack, so the process dies of SIGSEGV. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1U << 31)   /* the kernel's value; some libc headers lack it */
#endif

static char alt[65536] __attribute__((aligned(16)));
static sigjmp_buf env;
static volatile int on_alt_usr1, on_alt_usr2, nested_usr2, eperm, query_flags, uc_flags, uc_ok;
static volatile long query_size;

static int on_alt(const volatile void *p) {
    return (const char *)p >= alt && (const char *)p < alt + sizeof alt;
}

static void on_usr2(int sig) {
    volatile int local;
    on_alt_usr2 = on_alt(&local);
}

static void on_usr1(int sig, siginfo_t *si, void *ctx) {
    ucontext_t *uc = ctx;
    volatile int local;
    stack_t ss = {alt, 0, sizeof alt}, old;
    on_alt_usr1 = on_alt(&local);
    sigaltstack(NULL, &old);
    query_flags = old.ss_flags;
    query_size = old.ss_size;
    eperm = sigaltstack(&ss, NULL) == -1 && errno == EPERM;
    uc_flags = uc->uc_stack.ss_flags;
    uc_ok = uc->uc_stack.ss_sp == alt && uc->uc_stack.ss_size == sizeof alt;
    raise(SIGUSR2);                 /* SIGUSR2 runs nested, below us on the same stack */
    nested_usr2 = on_alt_usr2;
}

static void on_segv(int sig, siginfo_t *si, void *ctx) {
    volatile int local;
    siglongjmp(env, on_alt(&local) ? 2 : 1);
}

static void install(int sig, void (*fn)(int, siginfo_t *, void *), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO | flags;
    sigaction(sig, &sa, NULL);
}

#pragma GCC diagnostic ignored "-Winfinite-recursion"
__attribute__((noinline)) static int recurse(int n) {
    volatile char buf[1024];
    buf[0] = (char)n;
    return recurse(n + 1) + buf[0];
}

int main(int argc, char **argv) {
    stack_t ss, old;
    int r;

    sigaltstack(NULL, &old);
    printf("initial: flags %d size %zu sp-null %d\n", old.ss_flags, old.ss_size, old.ss_sp == NULL);
    ss.ss_sp = alt, ss.ss_flags = 0, ss.ss_size = 1024;
    r = sigaltstack(&ss, NULL);
    printf("too small: %d errno %d\n", r, r ? errno : 0);
    ss.ss_size = sizeof alt, ss.ss_flags = 5;
    r = sigaltstack(&ss, NULL);
    printf("bad flags: %d errno %d\n", r, r ? errno : 0);

    if (argc > 1 && strcmp(argv[1], "noalt") == 0) {
        install(SIGSEGV, on_segv, SA_ONSTACK);    /* no alternate stack is set: no room for the frame */
        printf("overflowing without an alternate stack\n");
        fflush(stdout);
        return recurse(0);
    }

    ss.ss_flags = 0;
    sigaltstack(&ss, NULL);
    sigaltstack(NULL, &old);
    printf("set: flags %d size %zu sp-ok %d\n", old.ss_flags, old.ss_size, old.ss_sp == alt);

    install(SIGUSR1, on_usr1, SA_ONSTACK);
    install(SIGUSR2, (void (*)(int, siginfo_t *, void *))on_usr2, SA_ONSTACK);
    raise(SIGUSR1);
    printf("USR1 on alt %d, query flags %d size %ld, EPERM %d, uc_stack flags %d ok %d, nested USR2 on alt %d\n",
           on_alt_usr1, query_flags, query_size, eperm, uc_flags, uc_ok, nested_usr2);
    install(SIGUSR2, (void (*)(int, siginfo_t *, void *))on_usr2, 0);
    raise(SIGUSR2);
    printf("USR2 without SA_ONSTACK on alt %d\n", on_alt_usr2);

    ss.ss_flags = SS_AUTODISARM;
    sigaltstack(&ss, NULL);
    raise(SIGUSR1);
    sigaltstack(NULL, &old);
    printf("autodisarm: USR1 on alt %d, query in handler flags %d size %ld, uc_stack flags %#x; "
           "after: flags %#x size %zu\n", on_alt_usr1, query_flags, query_size, (unsigned)uc_flags,
           (unsigned)old.ss_flags, old.ss_size);

    ss.ss_flags = 0;
    sigaltstack(&ss, NULL);
    install(SIGSEGV, on_segv, SA_ONSTACK);
    if ((r = sigsetjmp(env, 1)) == 0)
        recurse(0);
    printf("overflow caught: %d (2 = on the alternate stack)\n", r);

    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, NULL);
    sigaltstack(NULL, &old);
    printf("disabled: flags %d size %zu\n", old.ss_flags, old.ss_size);
    fflush(stdout);
    return 0;
}
