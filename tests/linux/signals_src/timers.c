/* timers.c: interval timers and alarm. The errno of bad calls; what getitimer
 * and alarm report back (within a tolerance: timing varies, the output does
 * not); SIGALRM, SIGVTALRM and SIGPROF interrupting loops that make no
 * syscalls (one-shot and periodic); pause, nanosleep, sigsuspend and
 * sigtimedwait ended by a timer; a poll and a read on an empty pipe interrupted
 * (EINTR) and, under SA_RESTART, restarted (the handler fills the pipe). */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define SPIN_LIMIT 20000000000L     /* far more than any timer here needs */
#define WAIT_US 300000              /* before a wait's timer fires: time to reach the wait when emulated */

static volatile sig_atomic_t alarms, vtalarms, profs;
static int pipe_w = -1;

static void on_signal(int sig)
{
    if (sig == SIGALRM) {
        alarms++;
        if (pipe_w >= 0)
            (void)!write(pipe_w, "x", 1);
    } else if (sig == SIGVTALRM) {
        vtalarms++;
    } else if (sig == SIGPROF) {
        profs++;
    }
}

static void handle(int sig, int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

static int arm(int which, long value_us, long interval_us)
{
    struct itimerval it = {{interval_us / 1000000, interval_us % 1000000},
                           {value_us / 1000000, value_us % 1000000}};
    return setitimer(which, &it, NULL);
}

#define SHOW(what, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; \
    printf("%s %ld errno %d\n", what, r_, e_); } while (0)

static void bad_calls(void)
{
    struct itimerval it = {{0, 0}, {1, 0}};
    SHOW("setitimer which 3", setitimer(3, &it, NULL));
    SHOW("getitimer which -1", getitimer(-1, &it));
    it.it_value.tv_usec = 1000000;
    SHOW("setitimer usec 1e6", setitimer(ITIMER_REAL, &it, NULL));
    it.it_value.tv_usec = 0;
    it.it_interval.tv_sec = -1;
    SHOW("setitimer negative interval", setitimer(ITIMER_REAL, &it, NULL));
    SHOW("setitimer bad pointer", syscall(SYS_setitimer, ITIMER_REAL, (void *)8, NULL));
    SHOW("getitimer bad pointer", syscall(SYS_getitimer, ITIMER_REAL, (void *)8));
    SHOW("setitimer bad which and pointer", syscall(SYS_setitimer, 7, (void *)8, NULL));
}

static void read_back(void)
{
    struct itimerval now;
    arm(ITIMER_REAL, 10000000, 250000);
    getitimer(ITIMER_REAL, &now);
    long left = now.it_value.tv_sec * 1000000L + now.it_value.tv_usec;
    printf("getitimer: interval %ld.%06ld left in (9s, 10s] %d\n", (long)now.it_interval.tv_sec,
           (long)now.it_interval.tv_usec, left > 9000000 && left <= 10000000);
    struct itimerval off = {{0, 0}, {0, 0}}, old;
    setitimer(ITIMER_REAL, &off, &old);
    left = old.it_value.tv_sec * 1000000L + old.it_value.tv_usec;
    printf("old value: interval %ld left in (9s, 10s] %d\n", (long)old.it_interval.tv_usec,
           left > 9000000 && left <= 10000000);
    getitimer(ITIMER_REAL, &now);
    printf("disarmed: %ld %ld %ld %ld\n", (long)now.it_interval.tv_sec, (long)now.it_interval.tv_usec,
           (long)now.it_value.tv_sec, (long)now.it_value.tv_usec);
    /* alarm gives the seconds left of the one before, rounded to the nearest: a translator
     * compiling the printf between two calls may take half a second (one less). */
    printf("alarm(5) %u\n", alarm(5));
    unsigned rest = alarm(3);
    printf("alarm(3) in [4, 5] %d\n", rest == 4 || rest == 5);
    rest = alarm(0);
    printf("alarm(0) in [2, 3] %d\n", rest == 2 || rest == 3);
    printf("alarm(0) again %u\n", alarm(0));
}

static void spin_until(volatile sig_atomic_t *count, int want, const char *what)
{
    volatile long i = 0;
    while (*count < want && i < SPIN_LIMIT)
        i++;
    printf("%s: %d signal(s) interrupted the loop %d\n", what, want, *count >= want);
}

static void loops(void)
{
    handle(SIGALRM, 0);
    handle(SIGVTALRM, 0);
    handle(SIGPROF, 0);
    arm(ITIMER_REAL, 20000, 0);
    spin_until(&alarms, 1, "ITIMER_REAL one-shot");
    alarms = 0;
    arm(ITIMER_REAL, 5000, 5000);
    spin_until(&alarms, 3, "ITIMER_REAL periodic");
    arm(ITIMER_REAL, 0, 0);
    arm(ITIMER_VIRTUAL, 20000, 0);
    spin_until(&vtalarms, 1, "ITIMER_VIRTUAL");
    arm(ITIMER_PROF, 10000, 10000);
    spin_until(&profs, 2, "ITIMER_PROF periodic");
    arm(ITIMER_PROF, 0, 0);
    struct itimerval now;
    getitimer(ITIMER_VIRTUAL, &now);
    printf("virtual one-shot spent: %ld %ld\n", (long)now.it_value.tv_sec, (long)now.it_value.tv_usec);
}

static void waits(void)
{
    alarms = 0;
    arm(ITIMER_REAL, WAIT_US, 0);
    SHOW("pause", pause());
    printf("alarms %d\n", (int)alarms);

    struct timespec req = {10, 0}, rem = {0, 0};
    arm(ITIMER_REAL, WAIT_US, 0);
    SHOW("nanosleep 10s", nanosleep(&req, &rem));
    printf("time left in (9s, 10s) %d\n", rem.tv_sec == 9);

    sigset_t block, none;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    sigemptyset(&none);
    sigprocmask(SIG_BLOCK, &block, NULL);
    arm(ITIMER_REAL, WAIT_US, 0);
    SHOW("sigsuspend", sigsuspend(&none));
    arm(ITIMER_REAL, WAIT_US, 0);
    siginfo_t info;
    SHOW("sigwaitinfo", sigwaitinfo(&block, &info));
    printf("si_code SI_KERNEL %d\n", info.si_code == SI_KERNEL);
    struct timespec short_wait = {0, 10000000};
    SHOW("sigtimedwait times out", sigtimedwait(&block, &info, &short_wait));
    sigprocmask(SIG_UNBLOCK, &block, NULL);
    printf("alarms %d\n", (int)alarms);

    int p[2];
    char c = 0;
    if (pipe(p) != 0)
        return;
    arm(ITIMER_REAL, WAIT_US, 0);
    SHOW("read empty pipe", read(p[0], &c, 1));
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    arm(ITIMER_REAL, WAIT_US, 0);
    SHOW("poll empty pipe", poll(&pfd, 1, 10000));
    arm(ITIMER_REAL, 10000000, 0);
    SHOW("poll times out first", poll(&pfd, 1, 50));
    arm(ITIMER_REAL, 0, 0);
    pipe_w = p[1];
    handle(SIGALRM, SA_RESTART);
    arm(ITIMER_REAL, WAIT_US, 0);
    SHOW("read restarted", read(p[0], &c, 1));
    printf("byte [%c] alarms %d\n", c, (int)alarms);
    pipe_w = -1;
}

int main(void)
{
    bad_calls();
    read_back();
    loops();
    waits();
    signal(SIGALRM, SIG_DFL);
    alarm(1);
    fflush(stdout);
    pause();
    printf("not reached\n");
    return 0;
}
