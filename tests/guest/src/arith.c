/* arith.c: 64-bit and 32-bit multiply, divide and remainder (signed and
 * unsigned), shifts, rotates and bit builtins (popcount, clz, ctz, bswap),
 * on inputs the compiler cannot see. Results are printed in hex.
 * __builtin_popcountll needs libgcc's __popcountdi2 at the default ISA,
 * so this program is linked with -lgcc. */
#include "sys.h"

static volatile u64 inputs[][2] = {
    {0x123456789abcdef0, 0x0fedcba987654321},
    {0xffffffffffffffff, 0x0000000000000003},
    {0x8000000000000000, 0xfffffffffffffffd},   /* INT64_MIN, -3 */
    {0x7fffffffffffffff, 0x0000000100000001},
    {0x00000000deadbeef, 0xffffffff80000000},
    {0x0000000000000007, 0x0000000000000040},
    {0xfedcba9876543210, 0x000000000000003f},
    {0x0000000100000000, 0x8000000000000001},
};

int main(void)
{
    for (unsigned i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        u64 a = inputs[i][0], b = inputs[i][1];
        i64 sa = (i64)a, sb = (i64)b;
        unsigned n = b & 63;
        unsigned __int128 up = (unsigned __int128)a * b;
        __int128 sp = (__int128)sa * sb;
        show_dec("case", i);
        show_hex(" mul", a * b);
        show_hex(" umulh", (u64)(up >> 64));
        show_hex(" smulh", (u64)(sp >> 64));
        show_hex(" udiv", a / b);
        show_hex(" umod", a % b);
        show_hex(" sdiv", (u64)(sa / sb));
        show_hex(" smod", (u64)(sa % sb));
        show_hex(" udiv32", (unsigned)a / ((unsigned)b | 1));
        show_hex(" sdiv32", (u64)(i64)((int)a / ((int)b | 1)));
        show_hex(" shl", a << n);
        show_hex(" shr", a >> n);
        show_hex(" sar", (u64)(sa >> n));
        show_hex(" rol", (a << n) | (a >> (-n & 63)));
        show_hex(" ror", (a >> n) | (a << (-n & 63)));
        show_hex(" rol32", (unsigned)(((unsigned)a << (n & 31)) | ((unsigned)a >> (-n & 31))));
        show_dec(" popcount", __builtin_popcountll(a));
        show_dec(" clz", __builtin_clzll(a | 1));
        show_dec(" ctz", __builtin_ctzll(a | 0x8000000000000000));
        show_hex(" bswap64", __builtin_bswap64(a));
        show_hex(" bswap32", __builtin_bswap32((unsigned)b));
    }
    return 0;
}
