/* A guest for the gdb tests: globals to watch, a local to read, a table to dump. */
#include <stdio.h>

long counter;
long table[4] = {0x1111, 0x2222, 0x3333, 0x4444};

static long bump(long step)
{
    counter += step;
    return counter;
}

int main(void)
{
    int local = 41;
    for (int i = 1; i <= 3; i++)
        bump(i);
    local += (int)counter + (int)table[1];   /* the only read of table[1] */
    table[2] = local;
    printf("local=%d counter=%ld\n", local, counter);
    return local & 0x7f;
}
