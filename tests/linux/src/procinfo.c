/* Identity, clocks, limits, randomness and /proc/self (exe, cmdline, environ,
   auxv): prints the shape of
   each answer (not values that differ between runs), and the errno of bad
   pointers and arguments, which must be -EFAULT/-EINVAL and never a crash. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define BAD ((void *)8)
#define R(expr) do { long r_ = (long)(expr); printf("%-58s -> %s%ld\n", #expr, \
    r_ < 0 ? "errno " : "", r_ < 0 ? (long)errno : r_); } while (0)

static long ns(struct timespec t) { return t.tv_sec * 1000000000L + t.tv_nsec; }

/* The whole content of a file (at most cap bytes), read in small pieces. */
static long slurp(const char *path, char *buf, long cap) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    long n = 0, r;
    while (n < cap && (r = read(fd, buf + n, cap - n > 7 ? 7 : cap - n)) > 0) n += r;
    close(fd);
    return n;
}

/* /proc/self/cmdline, environ and auxv describe this program, not what runs it. */
static void proc_self_files(int argc, char **argv) {
    static char got[65536], want[65536];
    long n = slurp("/proc/self/cmdline", got, sizeof got), w = 0;
    for (int i = 0; i < argc; i++) { size_t l = strlen(argv[i]) + 1; memcpy(want + w, argv[i], l); w += l; }
    printf("/proc/self/cmdline is argv: %d\n", n == w && memcmp(got, want, w) == 0);
    n = slurp("/proc/self/environ", got, sizeof got);
    w = 0;
    for (char **e = environ; *e && w < (long)sizeof want - 4096; e++) {
        size_t l = strlen(*e) + 1; memcpy(want + w, *e, l); w += l;
    }
    printf("/proc/self/environ is environ: %d\n", n == w && memcmp(got, want, w) == 0);
    n = slurp("/proc/self/auxv", got, sizeof got);
    unsigned long *aux = (unsigned long *)got;
    int same = n > 16 && n % 16 == 0 && aux[n / 8 - 2] == 0, entries = 0;
    for (long i = 0; i + 2 < n / 8; i += 2, entries++)
        same &= aux[i + 1] == getauxval(aux[i]) || aux[i] == AT_HWCAP || aux[i] == AT_HWCAP2;   /* glibc rewrites these */
    printf("/proc/self/auxv matches getauxval: %d (more than 10 entries: %d)\n", same, entries > 10);
    R(open("/proc/self/cmdline", O_WRONLY));
    R(open("/proc/self/cmdline/x", O_RDONLY));
    struct stat st;
    R(stat("/proc/self/cmdline", &st));
    printf("cmdline mode %o size %ld\n", (unsigned)st.st_mode, (long)st.st_size);
}

/* The /proc/self/maps line of an address: its permissions and the file's base name. */
static void maps_line(const char *what, const void *addr) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512], perms[8];
    unsigned long lo, hi;
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && (unsigned long)addr >= lo
                && (unsigned long)addr < hi) {
            line[strcspn(line, "\n")] = 0;
            const char *name = strrchr(line, ' ') + 1, *slash = strrchr(name, '/');
            printf("maps %s: %s %s\n", what, perms, slash ? slash + 1 : name);
        }
    }
    if (f) fclose(f);
}

int main(int argc, char **argv) {
    struct utsname u;
    if (argc > 1 && !strcmp(argv[1], "deadlock")) {     /* a wait nothing can end */
        int word = 0;
        syscall(SYS_futex, &word, 128, 0, NULL, NULL, 0);
        return 0;
    }
    R(uname(&u));
    printf("sysname=%s machine=%s release-nonempty=%d\n", u.sysname, u.machine, u.release[0] != 0);
    R(syscall(SYS_uname, BAD));

    printf("pid==tid: %d ppid>0: %d\n", getpid() == syscall(SYS_gettid), getppid() > 0);
    printf("uid==euid: %d gid==egid: %d\n", getuid() == geteuid(), getgid() == getegid());
    printf("set_tid_address==pid: %d\n", syscall(SYS_set_tid_address, NULL) == getpid());
    R(syscall(SYS_set_robust_list, NULL, 7));

    struct timespec a, b, res;
    R(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &a));
    R(syscall(SYS_clock_gettime, CLOCK_REALTIME, &b));
    printf("realtime close to time(): %d\n", labs(b.tv_sec - (long)time(NULL)) <= 2);
    printf("nsec in range: %d %d\n", a.tv_nsec >= 0 && a.tv_nsec < 1000000000L, b.tv_nsec < 1000000000L);
    R(syscall(SYS_clock_gettime, 12345, &a));
    R(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, BAD));
    R(syscall(SYS_clock_getres, CLOCK_MONOTONIC, &res));
    printf("res: %ld.%09ld\n", (long)res.tv_sec, res.tv_nsec);
    R(syscall(SYS_clock_getres, CLOCK_MONOTONIC, NULL));
    struct timeval tv;
    R(syscall(SYS_gettimeofday, &tv, NULL));
    printf("usec in range: %d\n", tv.tv_usec >= 0 && tv.tv_usec < 1000000);
    R(syscall(SYS_gettimeofday, BAD, NULL));
    time_t t;
    printf("time agrees: %d\n", labs((long)syscall(SYS_time, &t) - (long)t) == 0);
    R(syscall(SYS_time, BAD));

    struct timespec req = {0, 20 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &a);
    R(nanosleep(&req, NULL));
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("slept >= 20ms: %d\n", ns(b) - ns(a) >= 20 * 1000 * 1000);
    req.tv_nsec = 1000000000L;
    R(syscall(SYS_nanosleep, &req, NULL));
    R(syscall(SYS_nanosleep, BAD, NULL));
    clock_gettime(CLOCK_MONOTONIC, &a);
    a.tv_nsec += 5 * 1000 * 1000;
    if (a.tv_nsec >= 1000000000L) { a.tv_sec++; a.tv_nsec -= 1000000000L; }
    R(syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, TIMER_ABSTIME, &a, NULL));

    unsigned char rnd[64];
    memset(rnd, 0, sizeof rnd);
    R(syscall(SYS_getrandom, rnd, 16, 0));
    int nonzero = 0;
    for (int i = 0; i < 16; i++) nonzero |= rnd[i];
    printf("random bytes nonzero: %d untouched after 16: %d\n", nonzero != 0, rnd[16] == 0 && rnd[63] == 0);
    R(syscall(SYS_getrandom, rnd, 0, 0));
    R(syscall(SYS_getrandom, rnd, 16, 0x80));
    R(syscall(SYS_getrandom, BAD, 16, 0));

    struct sysinfo si;
    R(sysinfo(&si));
    printf("uptime>0: %d totalram>0: %d unit: %u\n", si.uptime > 0, si.totalram > 0, si.mem_unit);
    R(syscall(SYS_sysinfo, BAD));

    cpu_set_t set;
    CPU_ZERO(&set);
    long n = syscall(SYS_sched_getaffinity, 0, sizeof set, &set);
    printf("affinity bytes: %ld cpus: %d\n", n, CPU_COUNT(&set));
    R(syscall(SYS_sched_getaffinity, 0, 3, &set));
    R(sched_yield());

    struct rlimit rl;
    R(getrlimit(RLIMIT_NOFILE, &rl));
    printf("nofile soft<=hard: %d\n", rl.rlim_cur <= rl.rlim_max);
    struct rlimit lower = {64, rl.rlim_max};
    R(setrlimit(RLIMIT_NOFILE, &lower));
    int last = -1, fd;
    while ((fd = dup(0)) >= 0) last = fd;
    printf("fds stop below 64: last=%d errno=%d\n", last, errno);
    for (fd = 3; fd <= last; fd++) close(fd);
    struct rlimit bad = {100, 10};
    R(setrlimit(RLIMIT_NOFILE, &bad));
    R(syscall(SYS_prlimit64, 0, 999, NULL, &rl));
    R(syscall(SYS_getrlimit, RLIMIT_STACK, BAD));

    R(umask(027));
    R(umask(022));

    char exe[PATH_MAX], real[PATH_MAX];
    memset(exe, 0, sizeof exe);
    R(readlink("/proc/self/exe", exe, sizeof exe) > 0);
    realpath(argv[0], real);
    printf("/proc/self/exe is the program: %d\n", strcmp(exe, real) == 0);
    struct stat s1, s2;
    stat("/proc/self/exe", &s1);
    stat(argv[0], &s2);
    printf("stat /proc/self/exe is the program: %d\n", s1.st_ino == s2.st_ino && s1.st_dev == s2.st_dev);

    proc_self_files(argc, argv);
    maps_line("main", (const void *)main);
    maps_line("stack", &argc);

    R(syscall(SYS_arch_prctl, 0x1003, BAD));
    R(syscall(SYS_arch_prctl, 0x9999, &t));
    unsigned long fs = 0;
    R(syscall(SYS_arch_prctl, 0x1003, &fs));
    printf("fs base nonzero: %d\n", fs != 0);
    R(syscall(SYS_getcwd, BAD, 4096));

    int word = 5;
    struct timespec tiny = {0, 1000 * 1000};
    R(syscall(SYS_futex, &word, 128 /* FUTEX_WAIT_PRIVATE */, 6, NULL, NULL, 0));
    R(syscall(SYS_futex, &word, 128, 5, &tiny, NULL, 0));
    R(syscall(SYS_futex, &word, 129 /* FUTEX_WAKE_PRIVATE */, 1, NULL, NULL, 0));
    R(syscall(SYS_futex, BAD, 128, 5, NULL, NULL, 0));
    R(syscall(SYS_futex, &word, 128 | 9 /* WAIT_BITSET */, 5, NULL, NULL, 0));
    R(syscall(SYS_rseq, NULL, 0, 0, 0) == -1 && (errno == ENOSYS || errno == EINVAL));
    R(syscall(100000));
    return 0;
}
