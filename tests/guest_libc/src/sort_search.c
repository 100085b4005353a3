/* sort_search.c: qsort of integers, doubles and strings, then bsearch for
 * keys that are and are not present. Usage: sort_search [count] (default 100000). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next(void)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return rng >> 17;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static int cmp_double_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    long *v = malloc(n * sizeof *v);
    double *d = malloc(n * sizeof *d);
    char **s = malloc(n * sizeof *s);
    if (!v || !d || !s)
        return 1;
    for (long i = 0; i < n; i++) {
        v[i] = (long)(next() % (4 * n)) - n;
        d[i] = (double)(long)next() / 1024.0;
        s[i] = malloc(12);
        snprintf(s[i], 12, "w%07lx", (unsigned long)(next() & 0xfffffff));
    }
    qsort(v, n, sizeof *v, cmp_long);
    qsort(d, n, sizeof *d, cmp_double_desc);
    qsort(s, n, sizeof *s, cmp_str);

    long unsorted = 0;
    uint64_t sum = 0;
    for (long i = 1; i < n; i++) {
        unsorted += v[i - 1] > v[i];
        unsorted += d[i - 1] < d[i];
        unsorted += strcmp(s[i - 1], s[i]) > 0;
    }
    for (long i = 0; i < n; i++)
        sum = sum * 31 + (uint64_t)v[i];
    printf("n %ld unsorted %ld checksum %016llx\n", n, unsorted, (unsigned long long)sum);
    printf("ints %ld %ld %ld .. %ld %ld\n", v[0], v[1], v[2], v[n - 2], v[n - 1]);
    printf("doubles %.6f %.6f .. %.6f\n", d[0], d[1], d[n - 1]);
    printf("strings %s %s .. %s\n", s[0], s[1], s[n - 1]);

    long found = 0, missing_found = 0;
    for (long k = -n; k < 3 * n; k += 7) {
        long *hit = bsearch(&k, v, n, sizeof *v, cmp_long);
        if (hit) {
            found++;
            if (*hit != k)
                missing_found++;
        }
    }
    long big = 10 * n;
    missing_found += bsearch(&big, v, n, sizeof *v, cmp_long) != NULL;
    char key[12];
    long sfound = 0;
    for (long i = 0; i < n; i += 3) {
        const char *p = s[i];
        strcpy(key, p);
        const char *kp = key;
        char **hit = bsearch(&kp, s, n, sizeof *s, cmp_str);
        sfound += hit && strcmp(*hit, key) == 0;
    }
    const char *absent = "zzz";
    sfound += bsearch(&absent, s, n, sizeof *s, cmp_str) != NULL ? 1000000 : 0;
    printf("bsearch found %ld wrong %ld strings %ld\n", found, missing_found, sfound);
    for (long i = 0; i < n; i++)
        free(s[i]);
    free(s);
    free(d);
    free(v);
    return unsorted != 0 || missing_found != 0;
}
