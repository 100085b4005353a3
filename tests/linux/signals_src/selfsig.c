/* Signals the process sends itself: raise (tkill/tgkill), kill(getpid()), their siginfo,
 * sa_mask, SA_NODEFER, SA_RESETHAND, SIG_IGN and default-ignored signals, blocking with
 * sigprocmask (delivery at the unblock), sigpending, and the errno of bad calls. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Shared with the handlers, so volatile: glibc declares raise and kill "leaf", and the
 * compiler would otherwise keep these in registers across the calls. */
static volatile char log_[64];
static volatile int nlog, depth, max_depth, raise_inside;

static void note(const char *s) {
    while (*s && nlog < (int)sizeof log_ - 1)
        log_[nlog++] = *s++;
    log_[nlog] = 0;
}

static void clear(void) {
    nlog = 0, log_[0] = 0, depth = 0, max_depth = 0, raise_inside = 1;
}

static void on_usr1(int sig, siginfo_t *si, void *ctx) {
    depth++;
    if (depth > max_depth)
        max_depth = depth;
    note("1");
    printf("USR1: signo %d code %d pid-ok %d uid-ok %d\n", si->si_signo, si->si_code,
           si->si_pid == getpid(), si->si_uid == getuid());
    if (raise_inside) {
        raise_inside = 0;
        raise(SIGUSR2);       /* in sa_mask: waits until this handler returns */
        raise(SIGUSR1);       /* blocked while its handler runs, unless SA_NODEFER */
        note("r");
    }
    depth--;
}

static void on_usr2(int sig) {
    note("2");
}

static void install(int sig, void (*fn)(int, siginfo_t *, void *), int flags, int masked) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    if (masked)
        sigaddset(&sa.sa_mask, masked);
    sigaction(sig, &sa, NULL);
}

static long raw(long n, long a, long b, long c, long d) {
    long r = syscall(n, a, b, c, d);
    return r < 0 ? -errno : r;
}

int main(void) {
    struct sigaction old;
    sigset_t set, pend;

    signal(SIGUSR2, on_usr2);
    clear();
    install(SIGUSR1, on_usr1, 0, SIGUSR2);
    raise(SIGUSR1);
    printf("deferred: log %s depth %d\n", (const char *)log_, max_depth);

    clear();
    install(SIGUSR1, on_usr1, SA_NODEFER, SIGUSR2);
    kill(getpid(), SIGUSR1);
    printf("nodefer (kill): log %s depth %d\n", (const char *)log_, max_depth);

    /* SA_RESETHAND: the handler runs once, then the action reads back as SIG_DFL. */
    clear();
    install(SIGUSR2, (void (*)(int, siginfo_t *, void *))on_usr2, SA_RESETHAND, 0);
    raise(SIGUSR2);
    sigaction(SIGUSR2, NULL, &old);
    printf("resethand: log %s now default %d\n", (const char *)log_, old.sa_handler == SIG_DFL);

    /* Ignored and default-ignored signals vanish. */
    signal(SIGUSR2, SIG_IGN);
    raise(SIGUSR2);
    raise(SIGCHLD);
    raise(SIGWINCH);
    raise(SIGURG);
    printf("ignored ones: still running\n");

    /* Blocked: pending until the unblock, then delivered before sigprocmask returns. A standard
     * signal is pending at most once in each queue: raise (tkill) queues on the thread,
     * kill on the process, so two deliveries. */
    clear();
    signal(SIGUSR2, on_usr2);
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    raise(SIGUSR2);
    raise(SIGUSR2);
    kill(getpid(), SIGUSR2);
    kill(getpid(), SIGUSR2);
    note("b");
    sigpending(&pend);
    printf("pending USR2 %d USR1 %d\n", sigismember(&pend, SIGUSR2), sigismember(&pend, SIGUSR1));
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    note("u");
    sigpending(&pend);
    printf("unblocked: log %s, pending now %d\n", (const char *)log_, sigismember(&pend, SIGUSR2));

    /* An ignored signal that is blocked stays pending; ignoring it again discards it. */
    signal(SIGUSR2, SIG_IGN);
    sigprocmask(SIG_BLOCK, &set, NULL);
    raise(SIGUSR2);
    sigpending(&pend);
    printf("blocked+ignored pending %d\n", sigismember(&pend, SIGUSR2));
    signal(SIGUSR2, SIG_IGN);
    sigpending(&pend);
    printf("after re-ignoring %d\n", sigismember(&pend, SIGUSR2));
    sigprocmask(SIG_UNBLOCK, &set, NULL);

    /* SIGKILL and SIGSTOP cannot be blocked: the mask reads back without them. */
    sigfillset(&set);
    sigprocmask(SIG_SETMASK, &set, NULL);
    sigprocmask(SIG_SETMASK, NULL, &set);
    printf("fill: KILL %d STOP %d USR1 %d\n", sigismember(&set, SIGKILL), sigismember(&set, SIGSTOP),
           sigismember(&set, SIGUSR1));
    sigemptyset(&set);
    sigprocmask(SIG_SETMASK, &set, NULL);

    /* Waiting for a signal that is already pending: sigsuspend runs the handler with its
     * temporary mask and returns EINTR, then the old mask is back; sigwaitinfo and
     * sigtimedwait take a blocked signal without running its handler. */
    {
        sigset_t none, usr1, now;
        siginfo_t info;
        struct timespec zero = {0, 0}, short_wait = {0, 1000000};
        int r;
        clear();
        install(SIGUSR1, on_usr1, 0, 0);
        raise_inside = 0;
        sigemptyset(&none);
        sigemptyset(&usr1);
        sigaddset(&usr1, SIGUSR1);
        sigprocmask(SIG_BLOCK, &usr1, NULL);
        kill(getpid(), SIGUSR1);
        note("s");
        r = sigsuspend(&none);
        sigprocmask(SIG_SETMASK, NULL, &now);
        printf("sigsuspend: %d errno %d log %s, USR1 blocked again %d\n", r, errno, (const char *)log_,
               sigismember(&now, SIGUSR1));
        raise(SIGUSR1);
        r = sigwaitinfo(&usr1, &info);
        printf("sigwaitinfo: %d code %d pid-ok %d log %s\n", r, info.si_code, info.si_pid == getpid(),
               (const char *)log_);
        r = sigtimedwait(&usr1, &info, &zero);
        printf("sigtimedwait, none pending: %d errno %d\n", r, errno);
        r = sigtimedwait(&usr1, &info, &short_wait);
        printf("sigtimedwait 1 ms: %d errno %d\n", r, errno);
        sigprocmask(SIG_UNBLOCK, &usr1, NULL);
    }

    /* Raw syscalls: flags read back masked, mask without KILL/STOP, and errnos. */
    {
        struct { unsigned long handler, flags, restorer, mask; } ka = {(unsigned long)on_usr2, ~0UL, 0, ~0UL}, ko;
        printf("sigaction all flags: %ld", raw(SYS_rt_sigaction, SIGUSR2, (long)&ka, 0, 8));
        raw(SYS_rt_sigaction, SIGUSR2, 0, (long)&ko, 8);
        printf(" -> flags %#lx mask %#lx\n", ko.flags, ko.mask);
        printf("KILL %ld STOP %ld 0 %ld 65 %ld size %ld efault %ld oefault %ld\n",
               raw(SYS_rt_sigaction, SIGKILL, (long)&ka, 0, 8), raw(SYS_rt_sigaction, SIGSTOP, (long)&ka, 0, 8),
               raw(SYS_rt_sigaction, 0, 0, (long)&ko, 8), raw(SYS_rt_sigaction, 65, 0, (long)&ko, 8),
               raw(SYS_rt_sigaction, SIGUSR2, 0, (long)&ko, 4), raw(SYS_rt_sigaction, SIGUSR2, 1, 0, 8),
               raw(SYS_rt_sigaction, SIGUSR2, 0, 8, 8));
        printf("read KILL action %ld\n", raw(SYS_rt_sigaction, SIGKILL, 0, (long)&ko, 8));
        printf("sigprocmask how 7 %ld, how 7 no set %ld, size %ld, efault %ld\n",
               raw(SYS_rt_sigprocmask, 7, (long)&set, 0, 8), raw(SYS_rt_sigprocmask, 7, 0, 0, 8),
               raw(SYS_rt_sigprocmask, SIG_BLOCK, (long)&set, 0, 16), raw(SYS_rt_sigprocmask, SIG_BLOCK, 4, 0, 8));
        printf("kill sig 0 %ld, sig 65 %ld, no such pid %ld\n", raw(SYS_kill, getpid(), 0, 0, 0),
               raw(SYS_kill, getpid(), 65, 0, 0), raw(SYS_kill, 0x7fffffff, 0, 0, 0));
        printf("tgkill 0 %ld, tkill -1 %ld, tkill other %ld\n", raw(SYS_tgkill, 0, getpid(), 0, 0),
               raw(SYS_tkill, -1, 0, 0, 0), raw(SYS_tkill, 0x7fffffff, 0, 0, 0));
        printf("sigpending size 9 %ld size 0 %ld\n", raw(SYS_rt_sigpending, (long)&pend, 9, 0, 0),
               raw(SYS_rt_sigpending, 0, 0, 0, 0));
    }
    fflush(stdout);
    return 0;
}
