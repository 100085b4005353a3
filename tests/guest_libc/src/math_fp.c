/* math_fp.c: strtod on edge cases, then libm (sin, cos, tan, exp, log, pow,
 * sqrt, atan2, ...) and integer/float conversions, printed exactly (%a).
 * Usage: math_fp [points] (default 64): how many sample points per function. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void parse(const char *s)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    int erange = errno == ERANGE;
    printf("strtod [%s] -> %a %.17g used %d erange %d\n", s, d, d, (int)(end - s), erange);
}

static void conversions(void)
{
    volatile double vals[] = {0.5, -0.5, 1.5, 2.5, -2.5, 1e18, -1e18, 9.2e18, 4294967296.75};
    for (int i = 0; i < 9; i++) {
        double v = vals[i];
        printf("conv %g: long %ld int %d rint %g lrint %ld round %g trunc %g floor %g ceil %g\n",
               v, (long)v, (int)(v / 1e10), rint(v), lrint(v), round(v), trunc(v), floor(v), ceil(v));
    }
    volatile uint64_t big = 18446744073709551615ULL;
    volatile int64_t neg = -7;
    volatile float f = 16777217.0f;
    printf("u64->double %a i64->double %a u64->float %a\n", (double)big, (double)neg, (float)big);
    printf("double->u64 %llu float %a float->double %a\n",
           (unsigned long long)(double)9.3e18, (double)f, (double)(float)0.1);
}

int main(int argc, char **argv)
{
    int points = argc > 1 ? atoi(argv[1]) : 64;
    const char *inputs[] = {"0", "-0", "1", "0.1", "1e308", "1e309", "-1e309", "4.9e-324",
                            "2.2250738585072011e-308", "1e-400", "0x1.8p3", "inf", "-INFINITY",
                            "nan", "  12.5abc", "123456789012345678901234567890", "3.14159265358979323846",
                            "", "abc", "1e", ".5e-3"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
        parse(inputs[i]);

    double acc = 0;
    for (int i = 0; i < points; i++) {
        double x = -10.0 + 20.0 * i / points + 0.001 * i;
        double ax = fabs(x) + 0.25;
        printf("x %a: sin %a cos %a tan %a exp %a log %a pow %a sqrt %a atan2 %a\n",
               x, sin(x), cos(x), tan(x), exp(x), log(ax), pow(ax, 2.5), sqrt(ax), atan2(x, 3.0));
        printf("   fmod %a hypot %a cbrt %a floor %a ceil %a fabs %a copysign %a\n",
               fmod(x, 3.0), hypot(x, 4.0), cbrt(x), floor(x), ceil(x), fabs(x), copysign(1.0, x));
        acc += sin(x) * exp(x / 10) + sqrt(ax);
    }
    printf("acc %.17g\n", acc);
    printf("special: sqrt(-1) %f log(0) %f exp(1000) %f pow(0,-1) %f atan2(0,-1) %.17g\n",
           sqrt(-1.0), log(0.0), exp(1000.0), pow(0.0, -1.0), atan2(0.0, -1.0));
    printf("float: sinf %a sqrtf %a expf %a\n", (double)sinf(1.0f), (double)sqrtf(2.0f), (double)expf(3.0f));
    long double l = 2.0L;
    printf("long double: sqrtl %.21Lg x*x %.21Lg\n", sqrtl(l), l * l / 3.0L);
    conversions();
    return 0;
}
