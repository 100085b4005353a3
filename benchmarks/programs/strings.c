/* String workload: snprintf, strlen, memcpy, strchr and strtol over N records (argv[1],
 * default 200000). Self-check: each formatted record parses back to the numbers it was
 * made from, snprintf's return value equals strlen, and the copy of all records equals the
 * original byte for byte. Prints "strings <bytes> <hash>"; exits 1 on a mismatch. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const WORDS[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"};

int main(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], 0, 10) : 200000;
    size_t cap = 1 << 16, used = 0;
    char *text = malloc(cap), *copy = malloc(cap);
    if (!text || !copy)
        return 2;
    uint64_t hash = 1469598103934665603ull, total = 0;
    int bad = 0;
    char record[96];
    for (unsigned i = 0; i < n; i++) {
        long value = (long)(i * 2654435761u % 1000003u) - 500000;
        const char *word = WORDS[i % 7];
        int len = snprintf(record, sizeof record, "%u|%s|%ld|%08x;", i, word, value, i * 40503u);
        if (len < 0 || (size_t)len != strlen(record)) {
            bad = 1;
            continue;
        }
        char *bar1 = strchr(record, '|'), *bar2 = bar1 ? strchr(bar1 + 1, '|') : 0;
        if (!bar2 || strtoul(record, 0, 10) != i || (size_t)(bar2 - bar1 - 1) != strlen(word)
            || memcmp(bar1 + 1, word, strlen(word)) != 0 || strtol(bar2 + 1, 0, 10) != value) {
            fprintf(stderr, "strings: record %u does not parse back: %s\n", i, record);
            bad = 1;
        }
        if (used + (size_t)len > cap) {
            memcpy(copy, text, used);
            if (memcmp(copy, text, used) != 0)
                bad = 1;
            for (size_t k = 0; k < used; k++)
                hash = (hash ^ (unsigned char)copy[k]) * 1099511628211ull;
            used = 0;
        }
        memcpy(text + used, record, (size_t)len);
        used += (size_t)len;
        total += (uint64_t)len;
    }
    for (size_t k = 0; k < used; k++)
        hash = (hash ^ (unsigned char)text[k]) * 1099511628211ull;
    if (bad)
        fprintf(stderr, "strings: self-check failed\n");
    printf("strings %llu %016llx\n", (unsigned long long)total, (unsigned long long)hash);
    free(text);
    free(copy);
    return bad;
}
