/* Pipes, dup2 onto stdout, readv/writev, O_NONBLOCK, poll, close-on-exec flags,
   EPIPE with SIGPIPE ignored; with the argument "sigpipe" the default action
   of SIGPIPE ends the program (status 141). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define R(expr) do { long r_ = (long)(expr); printf("%-50s -> %s%ld\n", #expr, \
    r_ < 0 ? "errno " : "", r_ < 0 ? (long)errno : r_); fflush(stdout); } while (0)

int main(int argc, char **argv) {
    int p[2], q[2];
    char buf[64];
    if (argc > 1 && !strcmp(argv[1], "sigpipe")) {
        pipe(p);
        close(p[0]);
        write(p[1], "x", 1);
        puts("not reached");
        return 0;
    }
    R(pipe(p));
    printf("fds: %d %d\n", p[0], p[1]);
    R(write(p[1], "through the pipe", 16));
    memset(buf, 0, sizeof buf);
    R(read(p[0], buf, sizeof buf));
    printf("got: %s\n", buf);

    /* dup2 onto stdout: printf goes into the pipe */
    fflush(stdout);
    int saved = dup(1);
    int r1 = dup2(p[1], 1);
    printf("redirected line (dup2 gave %d)\n", r1);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    memset(buf, 0, sizeof buf);
    R(read(p[0], buf, sizeof buf));
    printf("pipe held: %s", buf);

    /* writev / readv */
    struct iovec w[3] = {{"one ", 4}, {"two ", 4}, {"three", 5}};
    R(writev(p[1], w, 3));
    char a[5] = {0}, b[20] = {0};
    struct iovec r[2] = {{a, 4}, {b, 19}};
    R(readv(p[0], r, 2));
    printf("readv: [%s] [%s]\n", a, b);
    R(writev(p[1], w, -1));
    R(syscall(SYS_writev, p[1], (void *)8, 1));

    /* FIONREAD, poll, nonblocking */
    R(write(p[1], "abc", 3));
    int avail = -1;
    R(ioctl(p[0], FIONREAD, &avail));
    printf("FIONREAD: %d\n", avail);
    struct pollfd pf[3] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}, {9999, POLLIN, 0}};
    R(poll(pf, 3, 1000));
    printf("revents: %#x %#x %#x\n", pf[0].revents, pf[1].revents, pf[2].revents);
    read(p[0], buf, 3);
    pf[0].revents = 0;
    R(poll(pf, 1, 10));
    R(fcntl(p[0], F_SETFL, O_NONBLOCK));
    R(read(p[0], buf, 1));
    struct winsize ws;
    R(ioctl(p[0], TIOCGWINSZ, &ws));
    R(ioctl(p[0], 0x12345678, 0));

    /* pipe2 flags */
    R(pipe2(q, O_CLOEXEC | O_NONBLOCK));
    printf("cloexec: %d %d nonblock: %d\n", fcntl(q[0], F_GETFD), fcntl(q[1], F_GETFD),
           (fcntl(q[1], F_GETFL) & O_NONBLOCK) != 0);
    R(pipe2(q, 0x12345));
    R(syscall(SYS_pipe2, (void *)8, 0));

    /* EOF and EPIPE */
    close(p[1]);
    fcntl(p[0], F_SETFL, 0);
    R(read(p[0], buf, 1));
    signal(SIGPIPE, SIG_IGN);
    pipe(p);
    close(p[0]);
    R(write(p[1], "x", 1));
    return 0;
}
