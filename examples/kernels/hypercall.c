/* hypercall: the vmcall interface (MACHINE.md): RAX = call number, arguments
 * in RDI and RSI, result in RAX.
 *   0: version (1)      1: console write of RSI bytes at RDI (returns RSI)
 *   2: end the run with status RDI      3: virtual time in ns
 *   anything else: RAX = -1
 * Prints through call 1 only, checks each result, and ends the run with
 * call 2: status 42 when every check passed, 1 otherwise. */
#include "io.h"

#define STATUS_OK 42
#define STATUS_FAIL 1

static int failures;

static void check(const char *what, int ok)
{
    kprintf("hypercall: %s %s\n", what, ok ? "OK" : "FAIL");
    failures += !ok;
}

void kmain(const struct bootinfo *boot)
{
    (void)boot;
    console_init(CONSOLE_HYPERCALL);
    static const char hello[] = "hypercall: hello through vmcall 1\n";
    uint64_t written = hypercall(HC_CONSOLE_WRITE, (uint64_t)hello, sizeof(hello) - 1);
    check("console write returns its length", written == sizeof(hello) - 1);

    uint64_t version = hypercall(HC_VERSION, 0, 0);
    kprintf("hypercall: version=%lu\n", version);
    check("version is 1", version == 1);

    uint64_t t0 = hypercall(HC_TIME, 0, 0);
    volatile uint64_t sink = 0;
    for (int i = 0; i < 1000; i++)
        sink += (uint64_t)i;
    uint64_t t1 = hypercall(HC_TIME, 0, 0);
    /* 1 ns per instruction: a 1000-iteration loop takes more than 1000 ns */
    kprintf("hypercall: time advanced by %lu ns over a 1000-iteration loop\n", t1 - t0);
    check("time is monotonic and advances with work", t1 > t0 + 1000);

    check("an unknown call returns -1", hypercall(99, 0, 0) == (uint64_t)-1);
    check("console write of 0 bytes returns 0", hypercall(HC_CONSOLE_WRITE, (uint64_t)hello, 0) == 0);

    kprintf("hypercall: %s, exiting with status %d\n", failures ? "FAIL" : "OK",
            failures ? STATUS_FAIL : STATUS_OK);
    hypercall_exit(failures ? STATUS_FAIL : STATUS_OK);
}
