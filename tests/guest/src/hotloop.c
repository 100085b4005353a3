/* hotloop.c: one function spinning through 5 million iterations of an
 * integer loop. Used to check that translated code stays native: exits to
 * Python must be rare compared with retired instructions. */
#include "sys.h"

__attribute__((noinline)) static u64 spin(u64 n)
{
    u64 x = 0x9e3779b97f4a7c15, acc = 0;
    for (u64 i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        acc += x & 0xff;
    }
    return acc ^ x;
}

int main(void)
{
    show_hex("spin", spin(5000000));
    return 0;
}
