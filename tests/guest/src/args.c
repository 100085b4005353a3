/* args.c: prints argc and every argv string with its length, as laid out
 * by the kernel (argc at [rsp], argv at rsp+8, NULL-terminated). */
#include "sys.h"

int main(int argc, char **argv)
{
    show_dec("argc", argc);
    for (int i = 0; i < argc; i++) {
        put_str("argv[");
        put_dec(i);
        put_str("] ");
        put_dec(str_len(argv[i]));
        put_str(" '");
        put_str(argv[i]);
        put_str("'\n");
    }
    put_str(argv[argc] == 0 ? "argv ends with NULL\n" : "argv NOT NULL-terminated\n");
    return argc;
}
