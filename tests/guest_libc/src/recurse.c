/* recurse.c: deep recursion (default 100000 frames, each with a live local
 * whose address is passed down, so the compiler cannot turn it into a loop)
 * and a small Ackermann. Usage: recurse [depth]. */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) static unsigned long down(unsigned long n, volatile unsigned long *parent)
{
    volatile unsigned long here = (n * 2654435761u) ^ (parent ? *parent >> 3 : 0);
    if (n == 0)
        return here;
    unsigned long below = down(n - 1, &here);
    return (below ^ here) * 31 + (here & 0xff);
}

static unsigned long ack(unsigned long m, unsigned long n)
{
    if (m == 0)
        return n + 1;
    if (n == 0)
        return ack(m - 1, 1);
    return ack(m - 1, ack(m, n - 1));
}

int main(int argc, char **argv)
{
    unsigned long depth = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    printf("down(%lu) = %lu\n", depth, down(depth, NULL));
    unsigned long m = depth >= 10000 ? 3 : 2;
    printf("ack(%lu, 5) = %lu\n", m, ack(m, 5));
    return 0;
}
