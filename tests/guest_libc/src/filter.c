/* filter.c: a stdin-to-stdout filter. Each input line comes out numbered,
 * with its words reversed in order and letters rot13'd; then word, line and
 * byte counts. The exit status is the line count modulo 100. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

static void rot13(char *s)
{
    for (; *s; s++) {
        if (isalpha((unsigned char)*s)) {
            char base = islower((unsigned char)*s) ? 'a' : 'A';
            *s = (char)(base + (*s - base + 13) % 26);
        }
    }
}

int main(void)
{
    char line[4096];
    long lines = 0, words = 0, bytes = 0, longest = 0;
    while (fgets(line, sizeof line, stdin)) {
        size_t len = strlen(line);
        bytes += (long)len;
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        if ((long)len > longest)
            longest = (long)len;
        lines++;
        char *word[512];
        int n = 0;
        for (char *tok = strtok(line, " \t"); tok && n < 512; tok = strtok(NULL, " \t"))
            word[n++] = tok;
        words += n;
        printf("%4ld:", lines);
        for (int i = n - 1; i >= 0; i--) {
            rot13(word[i]);
            printf(" %s", word[i]);
        }
        putchar('\n');
    }
    printf("lines %ld words %ld bytes %ld longest %ld eof %d\n", lines, words, bytes, longest, feof(stdin));
    fflush(stdout);
    return (int)(lines % 100);
}
