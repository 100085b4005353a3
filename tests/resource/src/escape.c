/* The guest of tests/resource/test_confinement.py, run inside a root (chroot, or dbt
   --root): one line per escape attempt, "label: result". The root holds secret.txt
   ("ROOT SECRET"), sub/ and an empty proc/ (or a real /proc under chroot); the host
   directory above it holds secret.txt ("HOST SECRET") and victim.txt, out of reach.
   argv[1]: the host's absolute path of that outer directory. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void content(const char *label, int fd) {
    char buf[64] = {0};
    if (fd < 0) { printf("%s: %s\n", label, strerror(errno)); return; }
    int n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n > 0 && buf[n - 1] == '\n') buf[n - 1] = 0;
    printf("%s: %s\n", label, n < 0 ? strerror(errno) : buf);
}

static void status(const char *label, int r) {
    printf("%s: %s\n", label, r < 0 ? strerror(errno) : "ok");
}

static void link_text(const char *label, const char *path) {
    char buf[4096] = {0};
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    printf("%s: %s\n", label, n < 0 ? strerror(errno) : buf);
}

static void where(const char *label) {
    char buf[4096];
    printf("%s: %s\n", label, getcwd(buf, sizeof buf) ? buf : strerror(errno));
}

int main(int argc, char **argv) {
    char host[4096], path[128];
    if (argc < 2) return 2;
    int rootfd = open("/", O_RDONLY | O_DIRECTORY), subfd = open("/sub", O_RDONLY | O_DIRECTORY);

    content("openat(root fd, ../secret.txt)", openat(rootfd, "../secret.txt", O_RDONLY));
    content("openat(root fd, ../../../secret.txt)", openat(rootfd, "../../../secret.txt", O_RDONLY));
    int upfd = openat(rootfd, "..", O_RDONLY | O_DIRECTORY);
    content("openat(openat(root fd, ..), secret.txt)", openat(upfd, "secret.txt", O_RDONLY));
    content("openat(sub fd, ../../secret.txt)", openat(subfd, "../../secret.txt", O_RDONLY));
    content("openat(sub fd, /proc/self/root/../secret.txt)",
            openat(subfd, "/proc/self/root/../secret.txt", O_RDONLY));
    status("fchdir(root fd) then chdir ..", fchdir(rootfd) | chdir(".."));
    where("getcwd after that");
    snprintf(path, sizeof path, "/proc/self/fd/%d", rootfd);
    link_text("readlink /proc/self/fd/<root fd>", path);
    snprintf(path, sizeof path, "/proc/self/fd/%d/../secret.txt", rootfd);
    content("/proc/self/fd/<root fd>/../secret.txt", open(path, O_RDONLY));
    snprintf(path, sizeof path, "/proc/self/fd/%d/../../secret.txt", subfd);
    content("/proc/self/fd/<sub fd>/../../secret.txt", open(path, O_RDONLY));
    int fd = open("../../secret.txt", O_RDONLY);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    link_text("readlink /proc/self/fd/<../../secret.txt>", path);
    close(fd);
    link_text("readlink /proc/self/root", "/proc/self/root");
    content("/proc/self/root/../../secret.txt", open("/proc/self/root/../../secret.txt", O_RDONLY));
    status("chdir /proc/self/root/..", chdir("/proc/self/root/.."));
    where("getcwd after that");
    status("chdir /sub", chdir("/sub"));
    link_text("readlink /proc/self/cwd", "/proc/self/cwd");
    content("/proc/self/cwd/../../secret.txt", open("/proc/self/cwd/../../secret.txt", O_RDONLY));
    link_text("readlink /proc/self/exe", "/proc/self/exe");
    status("chdir ../../..", chdir("../../.."));
    where("getcwd after that");

    snprintf(host, sizeof host, "%s/victim.txt", argv[1]);
    status("truncate ../victim.txt", truncate("../victim.txt", 0));
    status("truncate <host path of victim.txt>", truncate(host, 0));
    status("chdir <host path of the outer directory>", chdir(argv[1]));
    status("symlink x ../../evil (lands in the root)", symlink("x", "../../evil"));
    link_text("readlink /evil", "/evil");
    status("unlink /../evil", unlink("/../evil"));
    status("mkdir ../../made (lands in the root)", mkdir("../../made", 0755));
    status("rmdir /../made", rmdir("/../made"));
    status("rename /secret.txt ../../moved", rename("/secret.txt", "../../moved"));
    content("/moved", open("/moved", O_RDONLY));
    status("rename back", rename("/moved", "/secret.txt"));
    status("link /secret.txt /../../hard", link("/secret.txt", "/../../hard"));
    status("unlink /hard", unlink("/hard"));
    status("rename <host path of victim.txt> /v", rename(host, "/v"));
    status("unlink <host path of victim.txt>", unlink(host));
    status("rmdir ..", rmdir(".."));
    content("/proc/self/root/../../../etc/hostname", open("/proc/self/root/../../../etc/hostname", O_RDONLY));
    return 0;
}
