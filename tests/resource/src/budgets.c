/* The guest of the budget tests (tests/resource/test_budgets.py); argv[1] picks:
   spin      print "ready", then loop forever without a syscall
   syscalls  print "ready", then make getppid() calls forever
   read      print "ready", then block reading stdin
   sleep     print "ready", then sleep 1000 s
   malloc    print RLIMIT_AS, then malloc 64 KiB blocks (touching each page) until malloc
             fails, free them, and say how far it got and that it recovered; then try
             mmap, brk and mremap each beyond the limit and print their errno */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BLOCK (64 << 10)

static void ready(void) { fputs("ready\n", stdout); fflush(stdout); }

static int malloc_until_null(void) {
    struct rlimit lim;
    if (getrlimit(RLIMIT_AS, &lim)) return 2;
    printf("RLIMIT_AS soft %llu hard %llu\n", (unsigned long long)lim.rlim_cur,
           (unsigned long long)lim.rlim_max);
    void **blocks = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            void **more = realloc(blocks, (cap = cap ? cap * 2 : 256) * sizeof *blocks);
            if (!more) break;
            blocks = more;
        }
        void *p = malloc(BLOCK);
        if (!p) break;
        for (size_t i = 0; i < BLOCK; i += 4096) ((volatile char *)p)[i] = 1;
        blocks[n++] = p;
    }
    unsigned long long got = (unsigned long long)n * BLOCK;
    printf("malloc returned NULL after %s\n", got > lim.rlim_cur ? "more than the limit"
           : got * 4 >= lim.rlim_cur ? "a quarter of the limit or more" : "less than a quarter of the limit");
    while (n) free(blocks[--n]);
    free(blocks);
    void *again = malloc(BLOCK);
    printf("malloc after free: %s\n", again ? "ok" : "NULL");
    size_t limit = lim.rlim_cur;
    void *m = mmap(NULL, limit, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap of the limit: %s\n", m == MAP_FAILED ? strerror(errno) : "mapped");
    void *old = sbrk(0);
    printf("brk by the limit: %s\n", brk((char *)old + limit) ? strerror(errno) : "grown");
    void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *r = mremap(page, 4096, limit, MREMAP_MAYMOVE);
    printf("mremap to the limit: %s\n", r == MAP_FAILED ? strerror(errno) : "grown");
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "malloc")) return malloc_until_null();
    ready();
    if (!strcmp(mode, "spin")) {
        for (volatile unsigned long i = 0;; i++) {}
    } else if (!strcmp(mode, "syscalls")) {
        for (;;) getppid();
    } else if (!strcmp(mode, "read")) {
        char c;
        read(0, &c, 1);
        puts("read returned");
    } else if (!strcmp(mode, "sleep")) {
        struct timespec ts = {1000, 0};
        nanosleep(&ts, NULL);
        puts("slept");
    }
    return 1;
}
