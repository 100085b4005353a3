/* A guest for the gdb signal tests: a null-page load, with a SIGSEGV handler (exit 42)
 * when run with an argument, without one otherwise. */
#include <signal.h>
#include <unistd.h>

static void on_segv(int sig)
{
    (void)sig;
    _exit(42);
}

int main(int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        signal(SIGSEGV, on_segv);
    volatile int *p = (int *)16;
    return *p;
}
