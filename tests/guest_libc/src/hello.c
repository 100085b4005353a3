/* hello.c: the smallest libc program: libc start-up, one line through stdio,
 * and an exit status that is not 0. */
#include <stdio.h>

int main(void)
{
    puts("hello, world");
    return 7;
}
