/* exitcode.c: prints one line and returns 42; _start turns that into
 * exit_group(42). */
#include "sys.h"

int main(void)
{
    put_str("exiting with 42\n");
    return 42;
}
