/* The guest the API examples run (build: make -C examples api/guest).
   It prints, natively, the facts the examples find by hooking it. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

long total;                     /* hook_memory.py watches the stores here */
long fib_calls;

long fib(long n)                /* trace_function.py traces its blocks */
{
    fib_calls++;
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 10;
    for (long i = 0; i < n; i++)
        total += i * i;
    long f = fib(n);
    printf("fib(%ld)=%ld fib_calls=%ld total=%ld\n", n, f, fib_calls, total);
    printf("uid=%d\n", (int)getuid());  /* patch_syscall.py changes what getuid returns */
    fflush(stdout);
    fprintf(stderr, "done\n");           /* ... and drops this write */
    return 0;
}
