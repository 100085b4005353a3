/* qsort of N records with a comparison callback (argv[1], default 300000).
 * Self-check: the result is ordered by the comparison, and the multiset is kept
 * (count, sum and sum of squares of the keys unchanged). Prints "qsort <checksum>";
 * exits 1 on a mismatch. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct record {
    uint32_t key;
    uint32_t tie;
};

static int compare_records(const void *pa, const void *pb)
{
    const struct record *a = pa, *b = pb;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return (a->tie > b->tie) - (a->tie < b->tie);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], 0, 10) : 300000;
    if (n < 2)
        n = 2;
    struct record *r = malloc(n * sizeof *r);
    if (!r)
        return 2;
    uint32_t state = 2463534242u;
    uint64_t sum_before = 0, squares_before = 0;
    for (size_t i = 0; i < n; i++) {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        r[i].key = state % (n * 4 + 1);
        r[i].tie = (uint32_t)i;
        sum_before += r[i].key;
        squares_before += (uint64_t)r[i].key * r[i].key;
    }
    qsort(r, n, sizeof *r, compare_records);
    uint64_t sum_after = 0, squares_after = 0, checksum = 0;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        sum_after += r[i].key;
        squares_after += (uint64_t)r[i].key * r[i].key;
        checksum = checksum * 1000003u + r[i].key * 7u + r[i].tie;
        if (i > 0 && compare_records(&r[i - 1], &r[i]) > 0) {
            fprintf(stderr, "qsort: records %zu and %zu out of order\n", i - 1, i);
            bad = 1;
        }
    }
    if (sum_after != sum_before || squares_after != squares_before) {
        fprintf(stderr, "qsort: the keys changed\n");
        bad = 1;
    }
    printf("qsort %llu\n", (unsigned long long)checksum);
    free(r);
    return bad;
}
