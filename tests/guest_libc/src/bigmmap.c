/* bigmmap.c: a large anonymous mmap (default 256 MiB) touched page by page,
 * read back, made read-only with mprotect, shrunk with munmap; plus a
 * MAP_FIXED remap. Usage: bigmmap [MiB]. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
    size_t size = mib << 20, page = 4096, pages = size / page;
    unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        printf("mmap failed\n");
        return 1;
    }
    printf("mmap %zu MiB page aligned %d\n", mib, ((uintptr_t)p & (page - 1)) == 0);
    unsigned long zeros = 0;
    for (size_t i = 0; i < pages; i++) {
        zeros += p[i * page + (i % page)] == 0;
        p[i * page + (i % page)] = (unsigned char)(i * 7 + 1);
        p[i * page + page - 1] = (unsigned char)i;
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < pages; i++)
        sum += p[i * page + (i % page)] * 3 + p[i * page + page - 1];
    printf("pages %zu fresh zeros %lu sum %llu\n", pages, zeros, (unsigned long long)sum);
    printf("mprotect %d\n", mprotect(p, size, PROT_READ));
    sum = 0;
    for (size_t i = 0; i < pages; i += 17)
        sum += p[i * page + page - 1];
    printf("read-only sum %llu\n", (unsigned long long)sum);
    printf("munmap upper half %d\n", munmap(p + size / 2, size / 2));
    unsigned char *q = mmap(p + size / 2, page, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("map fixed at hole %d first byte %d\n", q == p + size / 2, q[0]);
    printf("munmap rest %d %d\n", munmap(p, size / 2), munmap(q, page));
    printf("munmap unaligned %d\n", munmap(p + 1, page));
    void *bad = mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("mmap size 0 fails %d\n", bad == MAP_FAILED);
    return 0;
}
