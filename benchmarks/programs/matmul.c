/* Integer matrix multiply C = A * B of N x N 32-bit matrices (argv[1], default 200).
 * Self-check (Freivalds): C * x must equal A * (B * x) for two vectors x, in the same
 * wrapping 32-bit arithmetic. Prints "matmul <checksum>"; exits 1 on a mismatch. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint32_t lcg_state = 12345;

static uint32_t next_random(void)
{
    lcg_state = lcg_state * 1103515245u + 12345u;
    return lcg_state >> 8;
}

static void mat_vec(const uint32_t *m, const uint32_t *x, uint32_t *y, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint32_t s = 0;
        for (unsigned j = 0; j < n; j++)
            s += m[i * n + j] * x[j];
        y[i] = s;
    }
}

int main(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], 0, 10) : 200;
    if (n < 2)
        n = 2;
    uint32_t *a = malloc(sizeof(uint32_t) * n * n), *b = malloc(sizeof(uint32_t) * n * n);
    uint32_t *c = calloc((size_t)n * n, sizeof(uint32_t));
    uint32_t *x = malloc(sizeof(uint32_t) * n), *bx = malloc(sizeof(uint32_t) * n);
    uint32_t *abx = malloc(sizeof(uint32_t) * n), *cx = malloc(sizeof(uint32_t) * n);
    if (!a || !b || !c || !x || !bx || !abx || !cx)
        return 2;
    for (unsigned i = 0; i < n * n; i++) {
        a[i] = next_random() % 1000;
        b[i] = next_random() % 1000;
    }
    for (unsigned i = 0; i < n; i++)
        for (unsigned k = 0; k < n; k++) {
            uint32_t aik = a[i * n + k];
            for (unsigned j = 0; j < n; j++)
                c[i * n + j] += aik * b[k * n + j];
        }
    int bad = 0;
    for (int round = 0; round < 2; round++) {
        for (unsigned i = 0; i < n; i++)
            x[i] = next_random();
        mat_vec(b, x, bx, n);
        mat_vec(a, bx, abx, n);
        mat_vec(c, x, cx, n);
        for (unsigned i = 0; i < n; i++)
            if (cx[i] != abx[i]) {
                fprintf(stderr, "matmul: row %u fails the Freivalds check\n", i);
                bad = 1;
                break;
            }
    }
    uint64_t checksum = 0;
    for (unsigned i = 0; i < n * n; i++)
        checksum = checksum * 31 + c[i];
    printf("matmul %llu\n", (unsigned long long)checksum);
    return bad;
}
