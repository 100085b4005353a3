/* Prints each named environment variable (or <unset>), and argv[0]'s presence. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *v = getenv(argv[i]);
        printf("%s=%s\n", argv[i], v ? v : "<unset>");
    }
    return argc > 0 ? 0 : 1;
}
