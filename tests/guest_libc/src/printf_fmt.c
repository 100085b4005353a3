/* printf_fmt.c: printf of integers, strings, floats and long doubles, and
 * snprintf's return value. Drives libc's number formatting (integer division,
 * SSE2 double arithmetic, x87 for %Lf). Usage: printf_fmt [quick]: "quick"
 * leaves out the huge values whose %f takes millions of instructions. */
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

static int quick;

static void integers(void)
{
    printf("int %d %i %u %x %X %o %#x %#o\n", 0, -1, 4000000000u, 0xdeadbeefu, 0xcafeu, 0755u, 255u, 8u);
    printf("widths [%5d] [%-5d] [%05d] [%+d] [% d] [%.3d] [%*d]\n", 42, 42, 42, 42, 42, 7, 6, -9);
    printf("long %ld %lu %lld %llx %hd %hhd %hhu\n", LONG_MIN, ULONG_MAX, LLONG_MIN,
           0x123456789abcdefULL, (short)-3, (signed char)-56, (unsigned char)44);
    printf("sizes %zu %zu %td %jd %jx\n", sizeof(long double), sizeof(void *), (ptrdiff_t)-5,
           INTMAX_MAX, UINTMAX_MAX);
    printf("inttypes %" PRId64 " %" PRIu32 " %" PRIx16 "\n", INT64_MIN, UINT32_MAX, (uint16_t)0xbeef);
    for (int i = -3; i <= 3; i++)
        printf("%d%s", i * 1000003, i < 3 ? "," : "\n");
}

static void strings(void)
{
    const char *s = "dynamic";
    printf("str [%s] [%10s] [%-10s] [%.3s] [%*s] [%-*.*s] [%c%c] [%%]\n",
           s, s, s, s, 9, s, 8, 4, s, 'o', 'k');
    char buf[16];
    const char *volatile second = "lifting";
    int n = snprintf(buf, sizeof buf, "%s and %s", "translation", second);
    printf("snprintf %d [%s] %zu\n", n, buf, strlen(buf));
    n = snprintf(NULL, 0, "%d-%d", 12345, -678);
    printf("snprintf-null %d\n", n);
}

static void doubles(void)
{
    volatile double zero = 0.0;
    double vals[] = {0.0, -0.0, 1.0, 0.1, 1.5, -2.25, 3.141592653589793, 1e10, 1e-10,
                     123456789.125, 2.5, 3.5, -0.5, DBL_MAX, DBL_MIN, 5e-324,
                     INFINITY, -INFINITY, zero / zero, -(zero / zero)};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        double v = vals[i];
        if (quick && isfinite(v) && fabs(v) > 1e20)
            continue;
        printf("d%zu: %f|%.2f|%e|%.10e|%g|%.17g|%a|%8.3f|%-12.4g|%.0f\n",
               i, v, v, v, v, v, v, v, v, v, v);
    }
    float f = 1.1f;
    printf("float %f %.9g %a\n", f, f, f);
    double acc = 0;
    for (int i = 1; i <= 100; i++)
        acc += 1.0 / i;
    printf("harmonic %.17g\n", acc);
}

static void long_doubles(void)
{
    long double vals[] = {0.0L, -0.0L, 1.0L / 3.0L, 2.0L / 3.0L, 1e100L, 1e-100L,
                          12345.678L, LDBL_MAX, LDBL_MIN, -1.5L};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        long double v = vals[i];
        if (quick && isfinite(v) && fabsl(v) > 1e20L)
            continue;
        printf("ld%zu: %Lf|%.3Lf|%Le|%Lg|%.21Lg\n", i, v, v, v, v, v);
    }
    long double p = 1.0L;
    for (int i = 1; i <= 25; i++)
        p *= i;
    printf("25! = %.0Lf\n", p);
    long double sum = 0.0L;
    for (int i = 1; i <= 50; i++)
        sum += 1.0L / (i * (long double)i);
    printf("zeta2 %.20Lf\n", sum);
}

int main(int argc, char **argv)
{
    quick = argc > 1 && strcmp(argv[1], "quick") == 0;
    integers();
    strings();
    doubles();
    long_doubles();
    return 0;
}
