/* args_env.c: argv, the environment (environ, getenv, setenv/unsetenv), a
 * few auxiliary-vector entries, and what /proc/self says about the program
 * (exe and cmdline name the guest, not whatever runs it). The exit status is argc. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

extern char **environ;

static void proc_self(int argc, char **argv)
{
    char exe[PATH_MAX + 1], *real = realpath(argv[0], NULL);
    ssize_t n = readlink("/proc/self/exe", exe, PATH_MAX);
    exe[n > 0 ? n : 0] = '\0';
    printf("/proc/self/exe is argv[0] %d\n", real && strcmp(exe, real) == 0);
    free(real);

    char cmdline[8192], want[8192];
    size_t wlen = 0;
    for (int i = 0; i < argc && wlen + strlen(argv[i]) + 1 < sizeof want; i++) {
        memcpy(want + wlen, argv[i], strlen(argv[i]) + 1);
        wlen += strlen(argv[i]) + 1;
    }
    int fd = open("/proc/self/cmdline", O_RDONLY);
    ssize_t got = fd >= 0 ? read(fd, cmdline, sizeof cmdline) : -1;
    if (fd >= 0)
        close(fd);
    printf("/proc/self/cmdline is argv %d\n", got == (ssize_t)wlen && memcmp(cmdline, want, wlen) == 0);
}

int main(int argc, char **argv, char **envp)
{
    printf("argc %d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d] (%zu) [%s]\n", i, strlen(argv[i]), argv[i]);
    printf("argv[argc] is NULL: %d\n", argv[argc] == NULL);
    int n = 0;
    for (char **e = envp; *e; e++)
        printf("env[%d] [%s]\n", n++, *e);
    printf("envp is environ: %d, count %d\n", envp == environ, n);
    const char *v = getenv("GUEST_VAR");
    printf("getenv GUEST_VAR [%s]\n", v ? v : "(null)");
    v = getenv("GUEST_EMPTY");
    printf("getenv GUEST_EMPTY [%s]\n", v ? v : "(null)");
    v = getenv("GUEST_ABSENT");
    printf("getenv GUEST_ABSENT [%s]\n", v ? v : "(null)");
    setenv("GUEST_NEW", "42", 1);
    setenv("GUEST_VAR", "replaced", 1);
    setenv("GUEST_VAR", "not replaced", 0);
    unsetenv("GUEST_EMPTY");
    printf("after setenv: NEW [%s] VAR [%s] EMPTY %s\n", getenv("GUEST_NEW"), getenv("GUEST_VAR"),
           getenv("GUEST_EMPTY") ? "present" : "gone");
    printf("auxv pagesz %lu\n", getauxval(AT_PAGESZ));
    printf("auxv random set %d\n", getauxval(AT_RANDOM) != 0);
    printf("auxv uid matches %d\n", getauxval(AT_UID) == (unsigned long)getuid());
    printf("auxv euid matches %d\n", getauxval(AT_EUID) == (unsigned long)geteuid());
    printf("auxv execfn [%s]\n", (const char *)getauxval(AT_EXECFN));
    printf("sysconf pagesize %ld\n", sysconf(_SC_PAGESIZE));
    proc_self(argc, argv);
    return argc;
}
