/* A -nostdlib guest for the gdb tests: no libc, its own _start and exit. */
long total;

static void sys_exit(long code)
{
    __asm__ volatile("syscall" : : "a"(60), "D"(code));
    __builtin_unreachable();
}

void _start(void)
{
    for (long i = 0; i < 5; i++)
        total += i;
    sys_exit(total);
}
