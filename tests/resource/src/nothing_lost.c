/* The guest of tests/resource/test_nothing_lost.py: writes LINES numbered lines through
   stdio to stdout (flushed), to the file PATH (flushed, never closed) and a line to
   stderr, then says "ready" on stderr and ends as HOW says:
   exit (status 3), segv (a fault), term (kill(self, SIGTERM)), spin (forever, for
   --max-insns, --timeout or Ctrl-C to stop it).   usage: nothing_lost HOW PATH LINES */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    const char *how = argv[1];
    int lines = atoi(argv[3]);
    FILE *f = fopen(argv[2], "w");
    if (!f) { perror(argv[2]); return 2; }
    for (int i = 0; i < lines; i++) {
        printf("stdout line %d of %d\n", i, lines);
        fprintf(f, "file line %d of %d\n", i, lines);
    }
    fflush(stdout);
    fflush(f);
    fputs("stderr line\n", stderr);
    write(2, "ready\n", 6);
    if (!strcmp(how, "exit")) exit(3);
    if (!strcmp(how, "segv")) *(volatile int *)8 = 1;
    if (!strcmp(how, "term")) kill(getpid(), SIGTERM);
    for (volatile unsigned long i = 0;; i++) {}
}
