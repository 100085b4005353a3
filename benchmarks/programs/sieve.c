/* Sieve of Eratosthenes: count and sum the primes below N (argv[1], default 2000000).
 * Self-check: sampled numbers are re-tested by trial division and must agree with the sieve;
 * the count must be positive. Prints "sieve <count> <sum>"; exits 1 on a mismatch. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_prime_trial(uint32_t n)
{
    if (n < 2)
        return 0;
    for (uint32_t d = 2; d * d <= n; d++)
        if (n % d == 0)
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], 0, 10) : 2000000;
    if (n < 10)
        n = 10;
    unsigned char *composite = calloc(n, 1);
    if (!composite)
        return 2;
    composite[0] = composite[1] = 1;
    for (uint32_t i = 2; (uint64_t)i * i < n; i++)
        if (!composite[i])
            for (uint32_t j = i * i; j < n; j += i)
                composite[j] = 1;
    uint32_t count = 0;
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!composite[i]) {
            count++;
            sum += i;
        }
    int bad = count == 0;
    for (uint32_t i = 0; i < n; i += 1 + n / 2000)
        if (is_prime_trial(i) != !composite[i]) {
            fprintf(stderr, "sieve: %u disagrees with trial division\n", i);
            bad = 1;
        }
    printf("sieve %u %llu\n", count, (unsigned long long)sum);
    free(composite);
    return bad;
}
