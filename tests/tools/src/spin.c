/* A guest for the gdb Ctrl-C test: says it is running, then spins until stopped. */
#include <stdio.h>

volatile long spins;

int main(void)
{
    puts("spinning");
    fflush(stdout);
    for (;;)
        spins++;
}
