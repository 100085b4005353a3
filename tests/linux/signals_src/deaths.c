/* Ways to die of a signal, each after output that must survive: argv[1] names the way.
 * abort, abort-handled (a SIGABRT handler that returns), kill N (kill(getpid(), N)),
 * segv, segv-blocked, segv-ignored (a fault signal is forced to its default action),
 * fpe, badstack (a handler but no stack to put its frame on). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_signal(int sig) {
    static const char msg[] = "handler ran\n";
    write(1, msg, sizeof msg - 1);
}

int main(int argc, char **argv) {
    const char *how = argc > 1 ? argv[1] : "segv";
    sigset_t set;
    volatile int zero = 0;

    printf("dying by %s%s%s\n", how, argc > 2 ? " " : "", argc > 2 ? argv[2] : "");
    fflush(stdout);
    if (strcmp(how, "abort") == 0)
        abort();
    if (strcmp(how, "abort-handled") == 0) {
        signal(SIGABRT, on_signal);
        abort();
    }
    if (strcmp(how, "kill") == 0) {
        kill(getpid(), atoi(argv[2]));
        printf("survived\n");
        return 0;
    }
    if (strcmp(how, "segv-blocked") == 0) {
        signal(SIGSEGV, on_signal);
        sigemptyset(&set);
        sigaddset(&set, SIGSEGV);
        sigprocmask(SIG_BLOCK, &set, NULL);
    }
    if (strcmp(how, "segv-ignored") == 0)
        signal(SIGSEGV, SIG_IGN);
    if (strcmp(how, "fpe") == 0)
        return 10 / zero;
    if (strcmp(how, "badstack") == 0) {
        signal(SIGILL, on_signal);
        __asm__ volatile("mov $64, %rsp\n\tud2");
    }
    return *(volatile int *)(long)zero;
}
