/* brk, mmap (anonymous, file-backed private and shared, fixed, hinted), munmap,
   mprotect, mremap, madvise, msync: contents and errno values. A 256 MiB mapping
   is touched page by page. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096UL
#define R(expr) do { long r_ = (long)(expr); printf("%-60s -> %s%ld\n", #expr, \
    r_ < 0 ? "errno " : "", r_ < 0 ? (long)errno : r_); } while (0)

static long raw_mmap(void *a, size_t len, int prot, int flags, int fd, off_t off) {
    return syscall(SYS_mmap, a, len, prot, flags, fd, off);
}

static sigjmp_buf fault_env;
static volatile int segv_or_bus;

static void on_fault(int sig) {
    segv_or_bus = sig == SIGSEGV || sig == SIGBUS;     /* Linux: SIGBUS; dbt: SIGSEGV */
    siglongjmp(fault_env, 1);
}

/* MAP_SHARED file mappings: the file and the mapping see each other's writes,
   through munmap, mprotect, mremap (grow in place, move), MAP_FIXED over them
   and MADV_DONTNEED; anonymous MAP_SHARED memory; the errno of bad uses. */
static void shared_mappings(void) {
    char path[] = "/tmp/dbt-memory-shared-XXXXXX", buf[32] = {0};
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, 4 * PAGE) != 0) { printf("no temporary file\n"); return; }
    unlink(path);
    char *s = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    strcpy(s + 10, "stored in the map");
    pread(fd, buf, 17, 10);
    printf("file sees the store: [%s]\n", buf);
    pwrite(fd, "written", 7, PAGE + 5);
    printf("map sees write(): [%.7s]\n", s + PAGE + 5);
    R(msync(s, 2 * PAGE, MS_SYNC));
    R(msync(s, 2 * PAGE, MS_SYNC | MS_ASYNC));
    R(madvise(s, PAGE, MADV_DONTNEED));
    printf("MADV_DONTNEED keeps the file's bytes: [%.6s]\n", s + 10);
    R(mprotect(s, PAGE, PROT_READ));
    R(mprotect(s, PAGE, PROT_READ | PROT_WRITE));
    s = mremap(s, 2 * PAGE, 3 * PAGE, MREMAP_MAYMOVE);
    strcpy(s + 2 * PAGE, "third page");
    pread(fd, buf, 10, 2 * PAGE);
    printf("grown map reaches the file: [%.10s] old bytes kept: [%.6s]\n", buf, s + 10);
    char *moved = mremap(s, 3 * PAGE, 3 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, s + 64 * PAGE);
    printf("moved: %d [%.6s]\n", moved == s + 64 * PAGE, moved + 10);
    moved[11] = 'T';
    pread(fd, buf, 6, 10);
    printf("file sees a store after the move: [%.6s]\n", buf);
    char *anon = mmap(moved, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    anon[10] = 'X';
    pread(fd, buf, 6, 10);
    printf("MAP_FIXED over it: zero %d, file untouched [%.6s]\n", anon[11] == 0, buf);
    R(munmap(moved, 3 * PAGE));
    char *again = mmap(moved, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("fresh memory after munmap: %d\n", again[10] == 0 && again[PAGE - 1] == 0);
    munmap(again, PAGE);

    char *two = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    R(ftruncate(fd, PAGE));                           /* the second page is past the end now */
    segv_or_bus = 0;
    signal(SIGSEGV, on_fault);
    signal(SIGBUS, on_fault);
    if (sigsetjmp(fault_env, 1) == 0)
        two[PAGE + 1] = 1;
    printf("store past a truncated end faults: %d\n", segv_or_bus);
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    R(ftruncate(fd, 4 * PAGE));
    two[PAGE + 1] = 2;
    printf("grown back: %d\n", two[PAGE + 1]);
    munmap(two, 2 * PAGE);

    char *tail = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 3 * PAGE);
    close(fd);
    tail[0] = 'Z';
    fd = open("/proc/self/fd/0", O_RDONLY);          /* any fd: the mapping outlives its own */
    printf("mapping outlives close: %c\n", tail[0]);
    munmap(tail, PAGE);
    close(fd);

    int ro = open("/proc/self/exe", O_RDONLY);
    char *r = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, ro, 0);
    printf("read-only shared map of the program: %c%c%c\n", r[1], r[2], r[3]);
    R(mprotect(r, PAGE, PROT_READ | PROT_WRITE));
    R(raw_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0));
    munmap(r, PAGE);
    close(ro);

    char *a = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    a[PAGE] = 7;
    a = mremap(a, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, a + 64 * PAGE);
    printf("anonymous shared, moved: %d %d\n", a[PAGE], a[0]);
    munmap(a, 2 * PAGE);
}

int main(int argc, char **argv) {
    /* brk */
    char *b0 = (char *)syscall(SYS_brk, 0);
    printf("brk page aligned: %d\n", ((uintptr_t)b0 & (PAGE - 1)) == 0);
    char *b1 = (char *)syscall(SYS_brk, b0 + 10000);
    printf("brk grow: %ld\n", (long)(b1 - b0));
    memset(b0, 0x5a, 10000);
    printf("brk shrink: %ld\n", (long)((char *)syscall(SYS_brk, b0 + 100) - b0));
    long grown = (long)((char *)syscall(SYS_brk, b0 + 8192) - b0);
    printf("brk regrow: %ld zero=%d\n", grown, b0[5000] == 0);
    printf("brk below start keeps: %d\n", (char *)syscall(SYS_brk, (char *)4096) == b0 + 8192);
    syscall(SYS_brk, b0);

    /* 256 MiB anonymous, touched page by page */
    size_t big = 256UL << 20;
    unsigned char *m = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("big mmap ok: %d aligned: %d\n", m != MAP_FAILED, ((uintptr_t)m & (PAGE - 1)) == 0);
    unsigned long sum = 0;
    for (size_t off = 0; off < big; off += PAGE) {
        sum += m[off];
        m[off] = (unsigned char)(off >> 12);
    }
    for (size_t off = 0; off < big; off += PAGE)
        sum += m[off];
    printf("big sum: %lu\n", sum);
    printf("stack not inside: %d\n", !((unsigned char *)&sum >= m && (unsigned char *)&sum < m + big));
    R(munmap(m, big));

    /* small anonymous maps, fixed and hinted */
    char *a = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(a, 1, 4 * PAGE);
    char *f = mmap(a + PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("fixed at: %d zeroed: %d neighbours kept: %d %d\n", f == a + PAGE, f[0] == 0 && f[PAGE - 1] == 0,
           a[PAGE - 1], a[2 * PAGE]);
    R(raw_mmap(a, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0));
    char *want = (char *)(((uintptr_t)a - (1UL << 30)) & ~((1UL << 20) - 1));
    char *h = mmap(want, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("free hint honoured: %d\n", h == want);
    char *h2 = mmap(a, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("busy hint moved: %d\n", h2 != a && h2 != MAP_FAILED);
    munmap(h, PAGE);
    munmap(h2, PAGE);

    /* mprotect */
    R(mprotect(a, 2 * PAGE, PROT_READ));
    R(mprotect(a + 1, PAGE, PROT_READ));
    R(mprotect(a, 2 * PAGE, PROT_READ | PROT_WRITE));
    a[0] = 7;
    printf("after mprotect rw: %d\n", a[0]);
    R(mprotect(a, 2 * PAGE, 0x40));

    /* mremap: grow in place or move, contents kept */
    char *r = mremap(a, 4 * PAGE, 64 * PAGE, MREMAP_MAYMOVE);
    printf("mremap ok: %d kept: %d %d new zero: %d\n", r != MAP_FAILED, r[0], r[3 * PAGE], r[40 * PAGE]);
    char *r2 = mremap(r, 64 * PAGE, 2 * PAGE, 0);
    printf("mremap shrink in place: %d\n", r2 == r);
    R(syscall(SYS_mremap, r + 1, PAGE, 2 * PAGE, 0, 0));
    R(syscall(SYS_mremap, r, PAGE, 0, MREMAP_MAYMOVE, 0));
    R(syscall(SYS_mremap, r, PAGE, 2 * PAGE, 8, 0));

    /* madvise */
    memset(r, 9, 2 * PAGE);
    R(madvise(r, 2 * PAGE, MADV_DONTNEED));
    printf("dontneed zeroed: %d\n", r[0] == 0 && r[PAGE + 5] == 0);
    R(madvise(r, PAGE, 12345));
    R(madvise(r + 1, PAGE, MADV_NORMAL));
    R(munmap(r, 2 * PAGE));
    R(madvise(r, PAGE, MADV_NORMAL));

    /* file-backed private mapping */
    int fd = open(argv[0], O_RDONLY);
    unsigned char *e = mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("file map: %c%c%c\n", e[1], e[2], e[3]);
    unsigned char *e2 = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, PAGE);
    unsigned char byte;
    pread(fd, &byte, 1, PAGE + 17);
    printf("offset map agrees: %d\n", e2[17] == byte);
    e2[17] ^= 0xff;
    pread(fd, &byte, 1, PAGE + 17);
    printf("private write stays private: %d\n", e2[17] != byte);
    R(raw_mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    R(raw_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 100));
    close(fd);

    /* errno values */
    R(raw_mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    R(raw_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, 12345, 0));
    R(raw_mmap(NULL, PAGE, PROT_READ, MAP_ANONYMOUS, -1, 0));
    R(raw_mmap((void *)0x10001, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
    int p[2];
    pipe(p);
    R(raw_mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, p[0], 0));
    R(munmap((void *)0x10001, PAGE));
    R(munmap((void *)0x100000, 0));
    R(mprotect((void *)0x10000, PAGE, PROT_READ));
    shared_mappings();
    return 0;
}
