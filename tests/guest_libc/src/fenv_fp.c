/* fenv_fp.c: the floating-point environment. Rounding modes (fesetround)
 * seen by SSE arithmetic, conversions and x87 long double; the sticky
 * exception flags (fetestexcept) that SSE and x87 operations raise; float
 * and long double libm; conversions of NaN and out-of-range values.
 * Usage: fenv_fp [points] (default 16): sample points per libm function. */
#include <fenv.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const int MODES[] = {FE_TONEAREST, FE_DOWNWARD, FE_UPWARD, FE_TOWARDZERO};
static const char *const MODE_NAMES[] = {"nearest", "down", "up", "zero"};

static void show_flags(const char *what)
{
    int f = fetestexcept(FE_ALL_EXCEPT);
    printf("%-22s inexact %d invalid %d divbyzero %d overflow %d underflow %d\n", what,
           !!(f & FE_INEXACT), !!(f & FE_INVALID), !!(f & FE_DIVBYZERO), !!(f & FE_OVERFLOW),
           !!(f & FE_UNDERFLOW));
}

static void rounding(void)
{
    volatile double one = 1.0, three = 3.0, x = 2.5, y = -2.5, big = 1e16;
    volatile float f1 = 1.0f, f3 = 3.0f;
    volatile long double l1 = 1.0L, l3 = 3.0L;
    for (int i = 0; i < 4; i++) {
        if (fesetround(MODES[i]) != 0)
            printf("fesetround %s failed\n", MODE_NAMES[i]);
        printf("%-8s get %d 1/3 %a -1/3 %a f %a sqrt2 %a rint %g %g lrint %ld nearby %g add %a\n",
               MODE_NAMES[i], fegetround() == MODES[i], one / three, -one / three,
               (double)(f1 / f3), sqrt(2.0 * one), rint(x), rint(y), lrint(x), nearbyint(y),
               big + 1.5);
        printf("%-8s long double 1/3 %La sqrt2 %La cvt %lld\n", MODE_NAMES[i], l1 / l3,
               sqrtl(2.0L * l1), (long long)llrintl(l1 * 2.5L));
    }
    fesetround(FE_TONEAREST);
}

static void flags(void)
{
    volatile double zero = 0.0, one = 1.0, tiny = DBL_MIN, huge = DBL_MAX, m1 = -1.0;
    volatile double r;
    feclearexcept(FE_ALL_EXCEPT);
    show_flags("clear");
    r = one + one;
    show_flags("1+1");
    r = one / 3.0;
    show_flags("1/3");
    feclearexcept(FE_ALL_EXCEPT);
    r = one / zero;
    show_flags("1/0");
    feclearexcept(FE_ALL_EXCEPT);
    r = zero / zero;
    show_flags("0/0");
    feclearexcept(FE_ALL_EXCEPT);
    r = huge * 2.0;
    show_flags("max*2");
    feclearexcept(FE_ALL_EXCEPT);
    r = tiny / 3.0;
    show_flags("min/3");
    feclearexcept(FE_ALL_EXCEPT);
    r = sqrt(m1);
    show_flags("sqrt(-1)");
    feclearexcept(FE_ALL_EXCEPT);
    volatile int i = (int)(huge);
    show_flags("(int)max");
    feclearexcept(FE_ALL_EXCEPT);
    volatile long double l = 1.0L / (long double)zero;
    show_flags("1/0 long double");
    feclearexcept(FE_ALL_EXCEPT);
    feraiseexcept(FE_OVERFLOW | FE_INEXACT);
    show_flags("feraiseexcept");
    fenv_t env;
    fegetenv(&env);
    feclearexcept(FE_ALL_EXCEPT);
    fesetenv(&env);
    show_flags("fesetenv restores");
    feclearexcept(FE_ALL_EXCEPT);
    (void)r;
    (void)i;
    (void)l;
}

static void conversions(void)
{
    volatile double vals[] = {NAN, INFINITY, -INFINITY, 1e300, -1e300, 2147483648.0, -2147483649.0,
                              9.3e18, -0.0, 0.99999999999999989, 4503599627370497.0};
    for (int k = 0; k < (int)(sizeof vals / sizeof vals[0]); k++) {
        double v = vals[k];
        printf("cvt %g: int %d long %ld uint %u float %a\n", v, (int)v, (long)v,
               (unsigned)(long)v, (double)(float)v);
    }
    volatile double sub = 4.9e-324 * 3;
    printf("subnormal %a %a %a\n", sub, sub * 0.5, sub / 4);
    volatile float fsub = 1e-45f;
    printf("float subnormal %a %a\n", (double)fsub, (double)(fsub * 3.0f));
}

static void libm(int points)
{
    for (int k = 0; k < points; k++) {
        float x = -4.0f + 8.0f * k / points + 0.01f;
        float ax = fabsf(x) + 0.5f;
        printf("f %a: sinf %a cosf %a expf %a logf %a powf %a sqrtf %a atanf %a\n", (double)x,
               (double)sinf(x), (double)cosf(x), (double)expf(x), (double)logf(ax),
               (double)powf(ax, 1.7f), (double)sqrtf(ax), (double)atanf(x));
        long double lx = -4.0L + 8.0L * k / points + 0.01L;
        long double lax = fabsl(lx) + 0.5L;
        /* expl, logl, powl and atan2l run the x87's f2xm1, fyl2x and fpatan, whose last
         * bit differs between implementations (qemu's and the CPU's): 15 digits */
        printf("l %La: sinl %La cosl %La fmodl %La expl %.15Lg logl %.15Lg powl %.15Lg atan2l %.15Lg\n",
               lx, sinl(lx), cosl(lx), fmodl(lx, 1.25L), expl(lx), logl(lax), powl(lax, 1.7L),
               atan2l(lx, 2.0L));
    }
    int e;
    long double m = frexpl(1234.5L, &e);
    printf("frexpl %La %d ldexpl %La floorl %La ceill %La truncl %La roundl %La\n", m, e,
           ldexpl(m, e + 3), floorl(-2.5L), ceill(-2.5L), truncl(-2.5L), roundl(-2.5L));
}

int main(int argc, char **argv)
{
    int points = argc > 1 ? atoi(argv[1]) : 16;
    rounding();
    flags();
    conversions();
    libm(points);
    return 0;
}
