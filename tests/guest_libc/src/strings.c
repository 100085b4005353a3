/* strings.c: the <string.h> family (memcpy, memmove, memset, memcmp, memchr,
 * strlen, strchr, strrchr, strcmp, strncmp, strcpy, strcat, strstr, strspn,
 * strtok_r, strdup) at every alignment and many lengths; libc picks vector
 * versions of these, so this is an SSE workout. Usage: strings [maxlen]. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t h = 1469598103934665603ULL;

static void mix(uint64_t v)
{
    h = (h ^ v) * 1099511628211ULL;
}

int main(int argc, char **argv)
{
    int maxlen = argc > 1 ? atoi(argv[1]) : 200;
    char *a = malloc(maxlen + 128), *b = malloc(maxlen + 128), *c = malloc(2 * maxlen + 256);
    for (int off = 0; off < 16; off++) {
        for (int len = 0; len <= maxlen; len += 1 + len / 8) {
            char *s = a + off, *t = b + (15 - off);
            for (int i = 0; i < len; i++)
                s[i] = (char)('a' + (i * 7 + off) % 26);
            s[len] = '\0';
            mix(strlen(s));
            memcpy(t, s, len + 1);
            mix(memcmp(s, t, len + 1) == 0);
            mix(strcmp(s, t) == 0);
            if (len) {
                t[len - 1] = 'A';
                mix(strcmp(s, t) > 0);
                mix(strncmp(s, t, len - 1) == 0);
                mix(memcmp(s, t, len) > 0);
                t[len - 1] = s[len - 1];
            }
            char *p = strchr(s, 'q');
            mix(p ? (uint64_t)(p - s) : 999);
            p = strrchr(s, 'c');
            mix(p ? (uint64_t)(p - s) : 999);
            p = memchr(s, 'z', len);
            mix(p ? (uint64_t)(p - s) : 999);
            p = strstr(s, "hov");
            mix(p ? (uint64_t)(p - s) : 999);
            mix(strspn(s, "abcdefghijklm"));
            mix(strcspn(s, "xyz"));
            memset(c + off, 'x', len);
            c[off + len] = '\0';
            mix(strlen(c + off));
            strcpy(c + off, s);
            strcat(c + off, t);
            mix(strlen(c + off));
            memmove(c + off + 3, c + off, len);
            mix(c[off + 3 + len / 2]);
            memmove(c + off, c + off + 5, len);
            mix(c[off + len / 3]);
            char *d = strdup(s);
            mix(strcmp(d, s));
            free(d);
        }
    }
    printf("hash %016llx\n", (unsigned long long)h);

    char text[] = "the quick brown fox jumps over the lazy dog, again and again";
    char *save, *tok;
    int n = 0;
    for (tok = strtok_r(text, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save))
        printf("%s%s", n++ ? "|" : "", tok);
    printf("\ntokens %d\n", n);
    char buf[64];
    memset(buf, 0, sizeof buf);
    strncpy(buf, "abc", 10);
    printf("strncpy pads %d %d\n", buf[3] == 0 && buf[9] == 0, (int)strnlen(buf, 64));
    printf("strerror(2) %s\n", strerror(2));
    free(a);
    free(b);
    free(c);
    return 0;
}
