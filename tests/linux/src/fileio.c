/* File I/O in a fresh directory (argv[1]): open/read/write/lseek/pread/pwrite,
   stat family, readdir, rename, unlink, links, dirfds, fcntl, dup, and the
   errno of each failure. Prints nothing that differs between runs. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define CHECK(expr) do { long r_ = (long)(expr); printf("%-44s = %ld", #expr, r_); \
    if (r_ < 0) printf(" (%s)", strerrorname_np_(errno)); putchar('\n'); } while (0)

static const char *strerrorname_np_(int e) {
    switch (e) {
    case ENOENT: return "ENOENT"; case EBADF: return "EBADF"; case EFAULT: return "EFAULT";
    case EEXIST: return "EEXIST"; case ENOTDIR: return "ENOTDIR"; case EISDIR: return "EISDIR";
    case ENOTEMPTY: return "ENOTEMPTY"; case EINVAL: return "EINVAL"; case ESPIPE: return "ESPIPE";
    case ELOOP: return "ELOOP"; case EACCES: return "EACCES"; case ERANGE: return "ERANGE";
    case EAGAIN: return "EAGAIN"; case EBUSY: return "EBUSY"; case ENAMETOOLONG: return "ENAMETOOLONG";
    default: return "other";
    }
}

struct kstatx {              /* the kernel's struct statx (musl has no statx) */
    unsigned int mask, blksize;
    unsigned long long attributes;
    unsigned int nlink, uid, gid;
    unsigned short mode, pad;
    unsigned long long ino, size, blocks, attributes_mask;
    unsigned char rest[256 - 64];
};

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

static void list_dir(const char *path) {
    DIR *d = opendir(path);
    char *names[64];
    int n = 0;
    struct dirent *e;
    if (!d) { printf("opendir %s failed: %s\n", path, strerrorname_np_(errno)); return; }
    while ((e = readdir(d)) && n < 64)
        names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof *names, cmp);
    printf("ls %s:", path);
    for (int i = 0; i < n; i++) { printf(" %s", names[i]); free(names[i]); }
    putchar('\n');
}

static void show_stat(const char *what, int r, struct stat *st) {
    if (r < 0) { printf("%s: -1 (%s)\n", what, strerrorname_np_(errno)); return; }
    printf("%s: size=%lld type=%s perm=%o nlink=%ld blksize>0=%d\n", what, (long long)st->st_size,
           S_ISREG(st->st_mode) ? "reg" : S_ISDIR(st->st_mode) ? "dir" : S_ISLNK(st->st_mode) ? "lnk" : "other",
           st->st_mode & 07777, (long)st->st_nlink, st->st_blksize > 0);
}

int main(int argc, char **argv) {
    char buf[256];
    struct stat st;
    if (argc < 2 || chdir(argv[1]) < 0) { puts("usage: fileio DIR"); return 2; }
    umask(022);

    int fd = open("a.txt", O_CREAT | O_RDWR | O_TRUNC, 0640);
    printf("open fd=%d\n", fd);
    CHECK(write(fd, "hello, world\n", 13));
    CHECK(lseek(fd, 0, SEEK_CUR));
    CHECK(lseek(fd, 7, SEEK_SET));
    memset(buf, 0, sizeof buf);
    CHECK(read(fd, buf, sizeof buf));
    printf("read: %s", buf);
    CHECK(lseek(fd, -6, SEEK_END));
    CHECK(pwrite(fd, "WORLD", 5, 7));
    memset(buf, 0, sizeof buf);
    CHECK(pread(fd, buf, 12, 0));
    printf("pread: %s\n", buf);
    CHECK(lseek(fd, 100, SEEK_SET));
    CHECK(write(fd, "x", 1));
    show_stat("fstat", fstat(fd, &st), &st);
    CHECK(fsync(fd));
    CHECK(fdatasync(fd));
    CHECK(ftruncate(fd, 5));
    struct kstatx sx;
    CHECK(syscall(SYS_statx, AT_FDCWD, "a.txt", 0, 0x7ff, &sx));
    printf("statx: size=%llu mode=%o nlink=%u basic=%d\n", (unsigned long long)sx.size, sx.mode,
           sx.nlink, (sx.mask & 0x7ff) == 0x7ff);
    CHECK(syscall(SYS_statx, fd, "", AT_EMPTY_PATH, 0x200, &sx));
    printf("statx empty path: size=%llu\n", (unsigned long long)sx.size);
    CHECK(syscall(SYS_statx, AT_FDCWD, "a.txt", 0, 0x200, (void *)8));
    CHECK(syscall(SYS_statx, AT_FDCWD, "nonexistent", 0, 0x200, &sx));
    CHECK(syscall(SYS_statx, AT_FDCWD, "a.txt", 0x6000, 0x200, &sx));
    show_stat("stat", stat("a.txt", &st), &st);
    struct iovec iov[3] = {{"ab", 2}, {"", 0}, {"cdef", 4}};
    CHECK(lseek(fd, 0, SEEK_END));
    CHECK(writev(fd, iov, 3));
    char x1[3] = {0}, x2[20] = {0};
    struct iovec rv[2] = {{x1, 2}, {x2, 19}};
    CHECK(lseek(fd, 0, SEEK_SET));
    CHECK(readv(fd, rv, 2));
    printf("readv: %s|%s\n", x1, x2);
    CHECK(close(fd));
    CHECK(close(fd));

    CHECK(mkdir("d", 0755));
    CHECK(mkdir("d", 0755));
    CHECK(mkdir("d/e", 0700));
    CHECK(symlink("../a.txt", "d/link"));
    CHECK(symlink("nowhere", "dangling"));
    CHECK(link("a.txt", "d/hard"));
    show_stat("lstat link", lstat("d/link", &st), &st);
    show_stat("stat link", stat("d/link", &st), &st);
    show_stat("stat hard", stat("d/hard", &st), &st);
    show_stat("stat dangling", stat("dangling", &st), &st);
    show_stat("lstat dangling", lstat("dangling", &st), &st);
    memset(buf, 0, sizeof buf);
    CHECK(readlink("d/link", buf, sizeof buf));
    printf("readlink: %s\n", buf);
    CHECK(readlink("a.txt", buf, sizeof buf));
    CHECK(readlink("d/link", buf, 3));
    list_dir(".");
    list_dir("d");

    int dfd = open("d", O_RDONLY | O_DIRECTORY);
    printf("dirfd ok=%d\n", dfd >= 0);
    fd = openat(dfd, "link", O_RDONLY);
    memset(buf, 0, sizeof buf);
    CHECK(read(fd, buf, 5));
    printf("via dirfd: %s\n", buf);
    close(fd);
    CHECK(openat(dfd, "link", O_RDONLY | O_NOFOLLOW));
    CHECK(openat(dfd, "e/../../a.txt", O_RDONLY) >= 0);
    CHECK(fstatat(dfd, "hard", &st, 0));
    CHECK(fstatat(dfd, "", &st, AT_EMPTY_PATH));
    printf("empty-path is dir: %d\n", S_ISDIR(st.st_mode));
    CHECK(faccessat(dfd, "e", R_OK | W_OK | X_OK, 0));
    CHECK(access("nonexistent", F_OK));
    CHECK(access("a.txt/x", F_OK));
    CHECK(renameat(dfd, "hard", AT_FDCWD, "moved"));
    CHECK(unlinkat(dfd, "e", AT_REMOVEDIR));
    CHECK(unlinkat(dfd, "e", AT_REMOVEDIR));
    CHECK(rmdir("d"));
    CHECK(rmdir("."));
    CHECK(unlink("d"));
    CHECK(unlink("d/link"));
    CHECK(rmdir("d"));
    close(dfd);
    CHECK(rename("moved", "b.txt"));
    CHECK(rename("nonexistent", "c.txt"));
    CHECK(unlink("dangling"));
    CHECK(open("a.txt", O_CREAT | O_EXCL | O_WRONLY, 0600));
    CHECK(open("a.txt/", O_RDONLY));
    CHECK(open("", O_RDONLY));
    list_dir(".");

    /* getcwd and relative chdir */
    char cwd[4096];
    CHECK(mkdir("sub", 0755));
    CHECK(chdir("sub"));
    getcwd(cwd, sizeof cwd);
    printf("cwd ends with /sub: %d\n", strlen(cwd) > 4 && !strcmp(cwd + strlen(cwd) - 4, "/sub"));
    CHECK(syscall(SYS_getcwd, cwd, 1));
    CHECK(chdir(".."));
    CHECK(chdir("b.txt"));
    CHECK(rmdir("sub"));

    /* fcntl and dup */
    fd = open("b.txt", O_RDONLY | O_CLOEXEC);
    CHECK(fcntl(fd, F_GETFD));
    CHECK(fcntl(fd, F_SETFD, 0));
    CHECK(fcntl(fd, F_GETFD));
    CHECK(fcntl(fd, F_GETFL) & O_ACCMODE);
    CHECK(fcntl(fd, F_SETFL, O_NONBLOCK));
    CHECK((fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
    int d1 = fcntl(fd, F_DUPFD, 10);
    printf("F_DUPFD 10 -> %d\n", d1);
    int d2 = fcntl(fd, F_DUPFD_CLOEXEC, 10);
    printf("F_DUPFD_CLOEXEC 10 -> %d cloexec=%d\n", d2, fcntl(d2, F_GETFD));
    CHECK(dup2(fd, 20));
    CHECK(dup3(fd, 21, O_CLOEXEC));
    CHECK(fcntl(21, F_GETFD));
    CHECK(dup3(fd, fd, 0));
    CHECK(dup2(fd, fd));
    CHECK(dup(12345));
    CHECK(fcntl(12345, F_GETFD));
    CHECK(lseek(20, 0, SEEK_END));
    CHECK(lseek(fd, 0, SEEK_CUR));
    CHECK(close(20) + close(21) + close(d1) + close(d2));

    /* errno values */
    CHECK(open("no/such/file", O_RDONLY));
    CHECK(read(12345, buf, 1));
    CHECK(write(-1, buf, 1));
    CHECK(read(fd, (void *)8, 16));
    CHECK(syscall(SYS_write, 1, (void *)8, 16));
    CHECK(syscall(SYS_open, (void *)8, O_RDONLY));
    CHECK(syscall(SYS_stat, "b.txt", (void *)8));
    CHECK(syscall(SYS_fstat, fd, (void *)16));
    CHECK(lseek(fd, -1, SEEK_SET));
    CHECK(ftruncate(fd, 0));
    CHECK(syscall(SYS_readlink, "/proc/self/exe", buf, 0));
    CHECK(syscall(SYS_getdents64, fd, buf, sizeof buf));
    close(fd);
    int p[2];
    pipe(p);
    CHECK(lseek(p[0], 0, SEEK_SET));
    CHECK(syscall(SYS_pipe, (void *)8));
    char longname[300];
    memset(longname, 'n', 299);
    longname[299] = 0;
    CHECK(open(longname, O_RDONLY));
    CHECK(unlink("b.txt") + unlink("a.txt"));
    list_dir(".");
    return 0;
}
