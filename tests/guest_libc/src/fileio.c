/* fileio.c: file I/O inside the directory given as argv[1]: open/creat,
 * read/write, lseek, pread/pwrite, ftruncate, stat/fstat/lstat, readdir,
 * rename, unlink, mkdir/rmdir, dup, stdio streams, a pipe within the
 * process (poll, O_NONBLOCK), file mappings (MAP_SHARED writes through,
 * MAP_PRIVATE does not), and the errno of calls that must fail. Prints nothing that depends on inode numbers or times.
 * Usage: fileio DIR [lines]: the text files hold up to 4 * lines + 1 lines (100). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static int failures;
static int lines_per_step = 100;

#define CHECK(cond) do { if (!(cond)) { printf("FAILED line %d: %s (errno %d %s)\n", \
    __LINE__, #cond, errno, strerror(errno)); failures++; } } while (0)

/* The result of a call and the errno it left, in that order (printf's own
 * arguments are evaluated in no fixed order). */
#define SHOW(what, call) do { errno = 0; long r_ = (long)(call); int e_ = errno; \
    printf("%s %ld errno %d %s\n", what, r_, e_, e_ ? strerror(e_) : "-"); } while (0)

static void show_stat(const char *what, const struct stat *st)
{
    printf("%s: size %lld mode %o reg %d dir %d lnk %d\n", what,
           S_ISDIR(st->st_mode) ? -1LL : (long long)st->st_size,
           (unsigned)(st->st_mode & 07777), S_ISREG(st->st_mode), S_ISDIR(st->st_mode),
           S_ISLNK(st->st_mode));
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list_dir(const char *path)
{
    DIR *d = opendir(path);
    CHECK(d != NULL);
    if (!d)
        return;
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 64)
        names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_name);
    printf("dir %s (%d entries):", path, n);
    for (int i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
}

static void raw_io(void)
{
    char buf[10000], back[10000];
    for (int i = 0; i < (int)sizeof buf; i++)
        buf[i] = (char)('a' + i % 26);
    int fd = open("data.bin", O_CREAT | O_WRONLY | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, buf, sizeof buf) == (ssize_t)sizeof buf);
    CHECK(close(fd) == 0);

    fd = open("data.bin", O_RDWR);
    CHECK(fd >= 0);
    printf("seek end %ld\n", (long)lseek(fd, 0, SEEK_END));
    printf("seek set %ld\n", (long)lseek(fd, 5000, SEEK_SET));
    ssize_t got = read(fd, back, 100);
    printf("read %ld: %.10s\n", (long)got, back);
    CHECK(memcmp(back, buf + 5000, 100) == 0);
    printf("seek cur %ld\n", (long)lseek(fd, -50, SEEK_CUR));
    CHECK(write(fd, "XYZ", 3) == 3);
    CHECK(pwrite(fd, "pwrite!", 7, 20) == 7);
    memset(back, 0, sizeof back);
    CHECK(pread(fd, back, 30, 10) == 30);
    printf("pread: %.30s\n", back);
    printf("offset after pread %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    printf("seek past end %ld\n", (long)lseek(fd, 20000, SEEK_SET));
    printf("read at eof %ld\n", (long)read(fd, back, 10));
    SHOW("bad whence", lseek(fd, 0, 42));
    CHECK(ftruncate(fd, 3000) == 0);
    struct stat st;
    CHECK(fstat(fd, &st) == 0);
    show_stat("fstat", &st);

    int fd2 = dup(fd);
    CHECK(fd2 > fd);
    lseek(fd2, 4990, SEEK_SET);
    printf("dup shares offset %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    CHECK(close(fd2) == 0);

    struct iovec iov[3] = {{"one ", 4}, {"two ", 4}, {"three\n", 6}};
    lseek(fd, 0, SEEK_SET);
    printf("writev %ld\n", (long)writev(fd, iov, 3));
    char a[5] = {0}, b[9] = {0};
    struct iovec riov[2] = {{a, 4}, {b, 8}};
    lseek(fd, 0, SEEK_SET);
    printf("readv %ld [%s] [%s]\n", (long)readv(fd, riov, 2), a, b);
    CHECK(close(fd) == 0);
    SHOW("close again", close(fd));
    SHOW("read bad fd", read(fd, back, 1));
}

static void streams(void)
{
    CHECK(mkdir("sub", 0750) == 0);
    SHOW("mkdir again", mkdir("sub", 0750));
    for (int i = 0; i < 5; i++) {
        char name[32];
        snprintf(name, sizeof name, "sub/file%d.txt", i);
        FILE *f = fopen(name, "w");
        CHECK(f != NULL);
        if (!f)
            continue;
        for (int j = 0; j <= i * lines_per_step; j++)
            fprintf(f, "line %d of file %d\n", j, i);
        CHECK(fclose(f) == 0);
    }
    FILE *f = fopen("sub/file3.txt", "r");
    CHECK(f != NULL);
    char line[64];
    int lines = 0;
    long chars = 0;
    while (f && fgets(line, sizeof line, f)) {
        lines++;
        chars += (long)strlen(line);
    }
    printf("file3: %d lines %ld chars, last: %s", lines, chars, line);
    CHECK(fseek(f, 7, SEEK_SET) == 0);
    long pos = ftell(f);
    printf("ftell %ld getc %c\n", pos, getc(f));
    fclose(f);

    f = fopen("sub/file1.txt", "a+");
    fputs("appended\n", f);
    fclose(f);
    struct stat st;
    CHECK(stat("sub/file1.txt", &st) == 0);
    show_stat("stat file1", &st);
    CHECK(stat("sub", &st) == 0);
    show_stat("stat sub", &st);
    list_dir("sub");
    CHECK(symlink("file2.txt", "sub/link") == 0);
    CHECK(lstat("sub/link", &st) == 0);
    show_stat("lstat link", &st);
    char target[64] = {0};
    SHOW("readlink", readlink("sub/link", target, sizeof target - 1));
    printf("link target %s\n", target);
    CHECK(stat("sub/link", &st) == 0);
    show_stat("stat via link", &st);
    CHECK(rename("sub/file4.txt", "sub/renamed.txt") == 0);
    SHOW("access renamed", access("sub/renamed.txt", R_OK | W_OK));
    SHOW("access old name", access("sub/file4.txt", F_OK));
    list_dir("sub");
    SHOW("rmdir nonempty", rmdir("sub"));
    DIR *d = opendir("sub");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300];
        snprintf(path, sizeof path, "sub/%s", e->d_name);
        CHECK(unlink(path) == 0);
    }
    if (d)
        closedir(d);
    list_dir("sub");
    CHECK(rmdir("sub") == 0);
}

static void pipes_and_flags(void)
{
    int p[2];
    CHECK(pipe(p) == 0);
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    SHOW("poll empty pipe", poll(&pfd, 1, 0));
    CHECK(write(p[1], "through the pipe", 16) == 16);
    SHOW("poll full pipe", poll(&pfd, 1, 0));
    printf("revents POLLIN %d\n", !!(pfd.revents & POLLIN));
    char buf[32] = {0};
    SHOW("read pipe", read(p[0], buf, sizeof buf - 1));
    printf("pipe said [%s]\n", buf);
    int fl = fcntl(p[0], F_GETFL);
    printf("pipe read end O_RDONLY %d\n", (fl & O_ACCMODE) == O_RDONLY);
    CHECK(fcntl(p[0], F_SETFL, fl | O_NONBLOCK) == 0);
    SHOW("read empty nonblocking", read(p[0], buf, 1));
    SHOW("FD_CLOEXEC before", fcntl(p[1], F_GETFD));
    CHECK(fcntl(p[1], F_SETFD, FD_CLOEXEC) == 0);
    SHOW("FD_CLOEXEC after", fcntl(p[1], F_GETFD));
    close(p[1]);
    SHOW("read at writer gone", read(p[0], buf, 1));
    close(p[0]);
    int fd = open("append.txt", O_CREAT | O_WRONLY | O_APPEND, 0600);
    CHECK(write(fd, "one\n", 4) == 4);
    lseek(fd, 0, SEEK_SET);
    CHECK(write(fd, "two\n", 4) == 4);
    SHOW("O_APPEND offset", lseek(fd, 0, SEEK_CUR));
    SHOW("ioctl TCGETS on a file", ioctl(fd, TCGETS, buf));
    close(fd);
    CHECK(unlink("append.txt") == 0);
}

static void file_mappings(void)
{
    int fd = open("mapped.bin", O_CREAT | O_RDWR | O_TRUNC, 0644);
    CHECK(ftruncate(fd, 8192) == 0);
    char *shared = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(shared != MAP_FAILED);
    char *private = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 4096);
    CHECK(private != MAP_FAILED);
    if (shared == MAP_FAILED || private == MAP_FAILED)
        return;
    memcpy(shared, "written through a shared mapping", 32);
    memcpy(shared + 4096, "second page", 11);
    CHECK(msync(shared, 8192, MS_SYNC) == 0);
    memcpy(private, "private copy", 12);
    char buf[40] = {0};
    CHECK(pread(fd, buf, 32, 0) == 32);
    printf("read after msync [%s]\n", buf);
    CHECK(pread(fd, buf, 12, 4096) == 12);
    printf("private store stays private [%.12s]\n", buf);
    printf("private mapping keeps its store [%.12s]\n", private);
    CHECK(pwrite(fd, "file write", 10, 100) == 10);
    printf("shared mapping sees write() [%.10s]\n", shared + 100);
    CHECK(munmap(shared, 8192) == 0);
    CHECK(munmap(private, 4096) == 0);
    SHOW("mmap past EOF", mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 1 << 20) != MAP_FAILED);
    close(fd);
    CHECK(unlink("mapped.bin") == 0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        printf("usage: fileio DIR [lines]\n");
        return 2;
    }
    if (argc > 2)
        lines_per_step = atoi(argv[2]);
    umask(022);
    CHECK(chdir(argv[1]) == 0);
    char cwd[4096], *real = realpath(argv[1], NULL);
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    printf("getcwd matches %d\n", real && strcmp(cwd, real) == 0);
    free(real);

    raw_io();
    streams();
    pipes_and_flags();
    file_mappings();
    struct stat st;
    SHOW("stat missing", stat("nope", &st));
    SHOW("open missing", open("nope/x", O_RDONLY));
    SHOW("open dir for write", open(".", O_WRONLY));
    SHOW("unlink missing", unlink("nope"));
    CHECK(unlink("data.bin") == 0);
    list_dir(".");
    printf("failures %d\n", failures);
    return failures != 0;
}
