/* loops.c: nested counted loops, a while loop with a data-dependent exit,
 * and a loop over an array; every sum is printed in decimal. Ends through
 * exit (60) rather than returning, so that syscall is covered too. */
#include "sys.h"

static int table[64];

int main(void)
{
    i64 sum = 0;
    for (int i = 0; i < 100; i++)
        for (int j = 0; j < i; j++)
            sum += i * j - j;
    show_dec("triangle", sum);

    i64 prod = 0;
    for (int i = 1; i <= 20; i++)
        for (int j = 1; j <= 20; j++)
            for (int k = 1; k <= 5; k++)
                prod += (i ^ j) * k - (i & k);
    show_dec("cube", prod);

    u64 n = 27, steps = 0;          /* Collatz: 111 steps */
    while (n != 1) {
        n = (n & 1) ? 3 * n + 1 : n / 2;
        steps++;
    }
    show_dec("collatz27", steps);

    for (int i = 0; i < 64; i++)
        table[i] = (i * 37 + 11) % 64 - 32;
    i64 neg = 0, pos = 0, minv = 1000;
    for (int i = 0; i < 64; i++) {
        if (table[i] < 0)
            neg += table[i];
        else
            pos += table[i];
        if (table[i] < minv)
            minv = table[i];
    }
    show_dec("neg", neg);
    show_dec("pos", pos);
    show_dec("min", minv);

    i64 down = 0;
    for (i64 i = 1000; i > -1000; i -= 7)
        down += i;
    show_dec("down", down);
    sys_exit(0);
}
