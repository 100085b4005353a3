/* Run inside a root directory (chroot, or dbt --root): every attempt to reach
   the host's files outside the root must end inside it. The root holds
   secret.txt "ROOT SECRET"; the directory above it holds another secret.txt
   "HOST SECRET" and victim.txt, which must stay out of reach.
   argv[1]: the host's absolute path of that outer directory.
   With argv[2] == "proc", the root has a /proc and /proc/self is checked too. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *ename(int e) {
    switch (e) {
    case ENOENT: return "ENOENT"; case ENOTDIR: return "ENOTDIR"; case EEXIST: return "EEXIST";
    case EXDEV: return "EXDEV"; case EBUSY: return "EBUSY"; case EACCES: return "EACCES";
    case ELOOP: return "ELOOP"; case EINVAL: return "EINVAL"; case ENOTEMPTY: return "ENOTEMPTY";
    default: return "other";
    }
}

static void show(const char *label, int fd) {
    char buf[64] = {0};
    if (fd < 0) { printf("%-34s %s\n", label, ename(errno)); return; }
    int n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = 0;
    printf("%-34s %s\n", label, n >= 4 && !memcmp(buf, "\177ELF", 4) ? "ELF" : buf);
}

static void result(const char *label, int r) {
    printf("%-34s %s\n", label, r < 0 ? ename(errno) : "ok");
}

static void cwd(const char *label) {
    char buf[4096];
    printf("%-34s %s\n", label, getcwd(buf, sizeof buf) ? buf : ename(errno));
}

static void link_text(const char *label, const char *path) {
    char buf[4096] = {0};
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    printf("%-34s %s\n", label, n < 0 ? ename(errno) : buf);
}

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

static void list(const char *path) {
    char *names[64];
    int n = 0;
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 64)
        names[n++] = strdup(e->d_name);
    if (d) closedir(d);
    qsort(names, n, sizeof *names, cmp);
    printf("ls %-31s", path);
    for (int i = 0; i < n; i++) printf(" %s", names[i]);
    putchar('\n');
}

int main(int argc, char **argv) {
    char host_secret[4096], host_victim[4096];
    if (argc < 2) return 2;
    snprintf(host_secret, sizeof host_secret, "%s/secret.txt", argv[1]);
    snprintf(host_victim, sizeof host_victim, "%s/victim.txt", argv[1]);

    cwd("start cwd");
    show("/secret.txt", open("/secret.txt", O_RDONLY));
    show("../../../../secret.txt", open("../../../../secret.txt", O_RDONLY));
    show("/../../secret.txt", open("/../../secret.txt", O_RDONLY));
    for (int i = 0; i < 5; i++) chdir("..");
    cwd("cwd after chdir .. x5");
    show("secret.txt after climbing", open("secret.txt", O_RDONLY));
    chdir("sub");
    show("sub: ../../../secret.txt", open("../../../secret.txt", O_RDONLY));
    chdir("/");
    show("abslink -> /secret.txt", open("abslink", O_RDONLY));
    show("absdir -> /.. then secret.txt", open("absdir/secret.txt", O_RDONLY));
    show("rel -> ../secret.txt", open("rel", O_RDONLY));
    show("sub/rel2 -> ../../../../secret", open("sub/rel2", O_RDONLY));
    show("sub/up/sub/up/secret.txt", open("sub/up/sub/up/secret.txt", O_RDONLY));
    show("host path of outer secret", open(host_secret, O_RDONLY));
    show("hostlink -> host path", open("hostlink", O_RDONLY));
    link_text("readlink abslink", "abslink");
    chdir("absdir");
    cwd("cwd after chdir absdir");
    chdir("/");

    int dfd = open("sub", O_RDONLY | O_DIRECTORY);
    show("openat(sub, ../../../secret.txt)", openat(dfd, "../../../secret.txt", O_RDONLY));
    show("openat(sub, /secret.txt)", openat(dfd, "/secret.txt", O_RDONLY));
    show("openat(sub, rel2)", openat(dfd, "rel2", O_RDONLY));
    show("openat(sub, up/../../secret.txt)", openat(dfd, "up/../../secret.txt", O_RDONLY));
    struct stat st;
    result("fstatat(sub, ../../victim.txt)", fstatat(dfd, "../../victim.txt", &st, 0));
    close(dfd);

    result("rename ../victim.txt", rename("../victim.txt", "stolen.txt"));
    result("rename host victim path", rename(host_victim, "/stolen.txt"));
    result("unlink ../victim.txt", unlink("../victim.txt"));
    result("unlink /../../victim.txt", unlink("/../../victim.txt"));
    result("unlink host victim path", unlink(host_victim));
    result("link ../victim.txt v", link("../victim.txt", "v"));
    result("access /../secret.txt", access("/../secret.txt", R_OK));
    result("stat host victim path", stat(host_victim, &st));
    result("mkdir ../escape", mkdir("../escape", 0755));
    result("rmdir /escape", rmdir("/escape"));
    int fd = open("../../created.txt", O_CREAT | O_WRONLY, 0644);
    result("create ../../created.txt", fd);
    close(fd);
    result("unlink /created.txt", unlink("/created.txt"));
    result("symlink /../.. up2", symlink("/../..", "up2"));
    show("up2/secret.txt", open("up2/secret.txt", O_RDONLY));
    result("unlink up2", unlink("up2"));
    result("rename inside.txt ../moved.txt", rename("inside.txt", "../moved.txt"));
    show("/moved.txt", open("/moved.txt", O_RDONLY));
    result("rename back", rename("/moved.txt", "/inside.txt"));
    result("rmdir /", rmdir("/"));
    result("rmdir ..", rmdir(".."));
    struct stat a, b;
    stat("/", &a);
    stat("/..", &b);
    printf("%-34s %d\n", "/.. is /", a.st_ino == b.st_ino && a.st_dev == b.st_dev);
    list("/");
    list("/..");
    list("/sub/up/..");
    show("/proc/self/root/secret.txt", open("/proc/self/root/secret.txt", O_RDONLY));

    if (argc > 2 && !strcmp(argv[2], "proc")) {
        link_text("readlink /proc/self/exe", "/proc/self/exe");
        show("open /proc/self/exe", open("/proc/self/exe", O_RDONLY));
        link_text("readlink /proc/self/root", "/proc/self/root");
        chdir("sub");
        link_text("readlink /proc/self/cwd", "/proc/self/cwd");
        show("/proc/self/cwd/../secret.txt", open("/proc/self/cwd/../secret.txt", O_RDONLY));
        show("/proc/self/root/../secret.txt", open("/proc/self/root/../secret.txt", O_RDONLY));
        fd = open("/secret.txt", O_RDONLY);
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        link_text("readlink /proc/self/fd/N", path);
        show("open /proc/self/fd/N", open(path, O_RDONLY));
    }
    return 0;
}
