/* malloc_churn.c: malloc/calloc/realloc/free churn driven by a fixed random
 * sequence, checking every block's contents. Sizes reach past the mmap
 * threshold, so brk, mmap, munmap and mremap all take part.
 * Usage: malloc_churn [operations [big]]: 200000 operations, and one block
 * in 97 of `big` (200000) to 2.5 * big bytes, by default. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 512

struct slot { unsigned char *p; size_t size; unsigned char tag; };

static uint64_t rng = 0x243f6a8885a308d3ULL;
static size_t big = 200000;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t pick_size(void)
{
    uint64_t r = next();
    if (r % 97 == 0)
        return big + r % (big + big / 2);  /* beyond the mmap threshold, by default */
    return 1 + (r >> 8) % (1u << (r % 13));
}

static int check(const struct slot *s, size_t upto)
{
    for (size_t i = 0; i < upto; i++)
        if (s->p[i] != (unsigned char)(s->tag + i))
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    long ops = argc > 1 ? atol(argv[1]) : 200000;
    if (argc > 2)
        big = strtoul(argv[2], NULL, 10);
    struct slot slots[SLOTS] = {0};
    long mallocs = 0, reallocs = 0, frees = 0, callocs = 0, bad = 0;
    uint64_t bytes = 0;

    for (long n = 0; n < ops; n++) {
        struct slot *s = &slots[next() % SLOTS];
        uint64_t r = next();
        if (!s->p) {
            s->size = pick_size();
            s->tag = (unsigned char)r;
            if (r % 5 == 0) {
                s->p = calloc(s->size, 1);
                callocs++;
                for (size_t i = 0; s->p && i < s->size; i++)
                    bad += s->p[i] != 0;
            } else {
                s->p = malloc(s->size);
                mallocs++;
            }
            if (!s->p) { printf("allocation of %zu failed\n", s->size); return 1; }
            for (size_t i = 0; i < s->size; i++)
                s->p[i] = (unsigned char)(s->tag + i);
            bytes += s->size;
        } else if (r % 3 == 0) {
            size_t size = pick_size();
            size_t keep = size < s->size ? size : s->size;
            unsigned char *q = realloc(s->p, size);
            if (!q) { printf("realloc to %zu failed\n", size); return 1; }
            s->p = q;
            bad += !check(s, keep);
            for (size_t i = keep; i < size; i++)
                s->p[i] = (unsigned char)(s->tag + i);
            s->size = size;
            bytes += size;
            reallocs++;
        } else {
            bad += !check(s, s->size);
            free(s->p);
            s->p = NULL;
            frees++;
        }
    }
    for (int i = 0; i < SLOTS; i++) {
        if (slots[i].p) {
            bad += !check(&slots[i], slots[i].size);
            free(slots[i].p);
        }
    }
    printf("ops %ld malloc %ld calloc %ld realloc %ld free %ld bytes %llu bad %ld\n",
           ops, mallocs, callocs, reallocs, frees, (unsigned long long)bytes, bad);
    return bad != 0;
}
