/* Recursive Fibonacci: sum of fib(20 + i % 6) for i < N (argv[1], default 200).
 * Self-check: every recursive result must equal the iterative one.
 * Prints "fib <sum>"; exits 1 on a mismatch. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t fib_recursive(unsigned n)
{
    return n < 2 ? n : fib_recursive(n - 1) + fib_recursive(n - 2);
}

static uint64_t fib_iterative(unsigned n)
{
    uint64_t a = 0, b = 1;
    for (unsigned i = 0; i < n; i++) {
        uint64_t t = a + b;
        a = b;
        b = t;
    }
    return a;
}

int main(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], 0, 10) : 200;
    uint64_t sum = 0;
    int bad = 0;
    for (unsigned i = 0; i < n; i++) {
        unsigned k = 20 + i % 6;
        uint64_t f = fib_recursive(k);
        if (f != fib_iterative(k)) {
            fprintf(stderr, "fib: fib(%u) gave %llu\n", k, (unsigned long long)f);
            bad = 1;
        }
        sum += f;
    }
    printf("fib %llu\n", (unsigned long long)sum);
    return bad;
}
