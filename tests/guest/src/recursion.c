/* recursion.c: deep and branching recursion: fib(25), ackermann(2, 3) and
 * the number of moves for towers of Hanoi, counted recursively. */
#include "sys.h"

#define NOINLINE __attribute__((noinline))

NOINLINE static i64 fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

NOINLINE static i64 ack(i64 m, i64 n)
{
    if (m == 0)
        return n + 1;
    if (n == 0)
        return ack(m - 1, 1);
    return ack(m - 1, ack(m, n - 1));
}

static i64 moves;
static u64 trace;   /* hash of every (from, to) pair, in order */

NOINLINE static void hanoi(int n, int from, int to, int via)
{
    if (n == 0)
        return;
    hanoi(n - 1, from, via, to);
    moves++;
    trace = trace * 31 + from * 4 + to;
    hanoi(n - 1, via, to, from);
}

int main(void)
{
    show_dec("fib25", fib(25));
    show_dec("ack23", ack(2, 3));
    hanoi(12, 1, 3, 2);
    show_dec("hanoi12", moves);
    show_hex("trace", trace);
    return 0;
}
