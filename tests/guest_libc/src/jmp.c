/* jmp.c: setjmp/longjmp across nested calls, values kept in volatile locals,
 * longjmp(env, 0) returning 1, and sigsetjmp/siglongjmp restoring the mask. */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>

static jmp_buf env;
static sigjmp_buf senv;

__attribute__((noinline)) static void deep(int n, int code)
{
    if (n <= 0)
        longjmp(env, code);
    if (n > 1000)
        return;
    deep(n - 1, code);
    printf("not reached %d\n", n);
}

__attribute__((noinline)) static int sum_until_jump(int limit)
{
    volatile int sum = 0;
    volatile int round = 0;
    int r = setjmp(env);
    sum += r;
    if (round < limit) {
        round++;
        deep(round * 3, round);
    }
    return sum;
}

int main(void)
{
    printf("sum %d\n", sum_until_jump(10));
    int r = setjmp(env);
    if (r == 0)
        longjmp(env, 0);
    printf("longjmp 0 gives %d\n", r);

    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_SETMASK, &set, NULL);
    volatile int jumps = 0;
    if (sigsetjmp(senv, 1) == 0) {
        sigemptyset(&set);
        sigaddset(&set, SIGUSR2);
        sigprocmask(SIG_SETMASK, &set, NULL);
        jumps++;
        siglongjmp(senv, 5);
    }
    sigprocmask(SIG_SETMASK, NULL, &old);
    printf("after siglongjmp: jumps %d usr1 %d usr2 %d\n", jumps,
           sigismember(&old, SIGUSR1), sigismember(&old, SIGUSR2));
    return 0;
}
