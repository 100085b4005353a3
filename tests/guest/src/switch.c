/* switch.c: a dense switch that gcc -O2 compiles to a jump table, i.e. an
 * indirect jump through a table of addresses. Checked with gcc 12.2:
 *   objdump -d switch | grep -A2 '<step>:'
 * shows `cmp $0xb,%rdi; ja ...; jmp *0x402000(,%rdi,8)`. Each case computes
 * something different so gcc cannot turn the switch into a table of
 * constants. */
#include "sys.h"

__attribute__((noinline)) static u64 step(u64 op, u64 x)
{
    switch (op) {
    case 0: return x + 1;
    case 1: return x * 3;
    case 2: return x ^ 0x5a5a;
    case 3: return x >> 1;
    case 4: return x << 2;
    case 5: return x - 7;
    case 6: return ~x;
    case 7: return x * x;
    case 8: return x | 0x100;
    case 9: return x & 0xffff0;
    case 10: return x + (x >> 3);
    case 11: return x / 3;
    default: return x + 1000;
    }
}

int main(void)
{
    u64 x = 1, hits[14] = {0};
    for (u64 i = 0; i < 300; i++) {
        u64 op = i * 5 % 14;               /* 12 and 13 take default */
        x = step(op, x) & 0xffffffff;
        hits[op]++;
    }
    show_hex("x", x);
    for (int op = 0; op < 14; op++) {
        put_str("case ");
        put_dec(op);
        put_str(" ");
        put_dec(hits[op]);
        put_str("\n");
    }
    return 0;
}
