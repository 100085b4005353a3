/* A guest for the -d int / unimp tests. `segv`: a load from address 16 whose SIGSEGV
 * handler prints what the kernel reported (si_addr, the faulting rip) and exits 42.
 * `syscall N`: makes syscall N and prints its errno. `insn`: runs crc32 at unimp_insn. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>
#include <sys/syscall.h>

static void on_segv(int sig, siginfo_t *info, void *context)
{
    ucontext_t *uc = context;
    printf("signal %d addr=%#lx rip=%#llx\n", sig, (unsigned long)info->si_addr,
           (unsigned long long)uc->uc_mcontext.gregs[REG_RIP]);
    fflush(stdout);
    _exit(42);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "segv")) {
        struct sigaction sa = {0};
        sa.sa_sigaction = on_segv;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGSEGV, &sa, NULL);
        return *(volatile int *)16;
    }
    if (argc > 2 && !strcmp(argv[1], "syscall")) {
        long r = syscall(atol(argv[2]), 0, 0, 0);
        printf("result=%ld errno=%d\n", r, r < 0 ? errno : 0);
        return 0;
    }
    if (argc > 1 && !strcmp(argv[1], "insn")) {
        fflush(stdout);
        __asm__ volatile(".globl unimp_insn\nunimp_insn: crc32 %%ebx, %%eax" ::: "eax");
        return 0;
    }
    return 2;
}
