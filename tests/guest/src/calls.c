/* calls.c: many small non-inlined functions with varied argument counts,
 * and indirect calls through an array of function pointers. */
#include "sys.h"

#define NOINLINE __attribute__((noinline))

NOINLINE static i64 add(i64 a, i64 b) { return a + b; }
NOINLINE static i64 sub(i64 a, i64 b) { return a - b; }
NOINLINE static i64 mul(i64 a, i64 b) { return a * b; }
NOINLINE static i64 xor_(i64 a, i64 b) { return a ^ b; }
NOINLINE static i64 max(i64 a, i64 b) { return a > b ? a : b; }
NOINLINE static i64 six(i64 a, i64 b, i64 c, i64 d, i64 e, i64 f)
{
    return a + 2 * b + 3 * c + 4 * d + 5 * e + 6 * f;
}
/* More than six arguments: the rest go on the stack. */
NOINLINE static i64 eight(i64 a, i64 b, i64 c, i64 d, i64 e, i64 f, i64 g, i64 h)
{
    return six(a, b, c, d, e, f) * 10 + g - h;
}
NOINLINE static i64 twice(i64 (*f)(i64, i64), i64 a, i64 b) { return f(f(a, b), b); }

typedef i64 (*binop)(i64, i64);
static binop ops[] = {add, sub, mul, xor_, max};
static const char *names[] = {"add", "sub", "mul", "xor", "max"};

int main(void)
{
    volatile int n = sizeof ops / sizeof ops[0];   /* keep the calls indirect */
    i64 acc = 1;
    for (int round = 0; round < 10; round++)
        for (int i = 0; i < n; i++)
            acc = ops[i](acc, round + i + 3) & 0xffffff;
    show_dec("acc", acc);

    for (int i = 0; i < n; i++) {
        put_str(names[i]);
        put_str(" ");
        put_dec(ops[i](-17, 5));
        put_str(" ");
        put_dec(twice(ops[i], 100, 7));
        put_str("\n");
    }
    show_dec("six", six(1, 2, 3, 4, 5, 6));
    show_dec("eight", eight(1, -2, 3, -4, 5, -6, 7, -8));
    return 0;
}
