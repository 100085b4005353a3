/* time_rand.c: clocks, sleeping, getrandom, uname and ids. Prints only the
 * shape of each result (values change from run to run). */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static double ts(const struct timespec *t)
{
    return t->tv_sec + t->tv_nsec / 1e9;
}

int main(void)
{
    time_t now = time(NULL);
    printf("time plausible %d\n", now > 1600000000 && now < 4000000000);
    struct timespec rt, m1, m2, res;
    printf("clock_gettime realtime %d\n", clock_gettime(CLOCK_REALTIME, &rt));
    printf("realtime near time() %d\n", rt.tv_sec - now >= 0 && rt.tv_sec - now < 5);
    printf("nsec in range %d\n", rt.tv_nsec >= 0 && rt.tv_nsec < 1000000000);
    struct timeval tv;
    int rc = gettimeofday(&tv, NULL);
    printf("gettimeofday %d near %d\n", rc, tv.tv_sec - now >= 0 && tv.tv_sec - now < 5);
    clock_gettime(CLOCK_MONOTONIC, &m1);
    struct timespec nap = {0, 2000000};
    printf("nanosleep %d\n", nanosleep(&nap, NULL));
    clock_gettime(CLOCK_MONOTONIC, &m2);
    printf("monotonic advanced by at least 2ms %d\n", ts(&m2) - ts(&m1) >= 0.002);
    rc = clock_getres(CLOCK_MONOTONIC, &res);
    printf("clock_getres monotonic %d fine %d\n", rc, res.tv_sec == 0 && res.tv_nsec > 0 && res.tv_nsec <= 1000000);
    printf("cputime %d\n", clock() >= 0);

    unsigned char buf[64];
    memset(buf, 0, sizeof buf);
    ssize_t n = getrandom(buf, 16, 0);
    int nonzero = 0;
    for (int i = 0; i < 16; i++)
        nonzero |= buf[i];
    printf("getrandom %zd bytes %s\n", n, n == 16 && nonzero ? "ok" : "BAD");
    n = getrandom(buf, sizeof buf, GRND_NONBLOCK);
    printf("getrandom nonblock %zd\n", n);
    unsigned char again[16];
    getrandom(again, 16, 0);
    printf("two draws differ %d\n", memcmp(buf, again, 16) != 0);

    struct tm tm;
    time_t fixed = 1700000000;
    gmtime_r(&fixed, &tm);
    char text[64];
    strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S %A %j", &tm);
    printf("gmtime %s\n", text);
    printf("mktime-free timegm %lld\n", (long long)timegm(&tm));

    struct utsname u;
    printf("uname %d %s %s\n", uname(&u), u.sysname, u.machine);
    printf("pid positive %d same %d\n", getpid() > 0, getpid() == getpid());
    printf("uid matches euid %d\n", getuid() == geteuid());
    return 0;
}
