/* A few syscalls with known arguments for the --strace format test. */
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    syscall(SYS_write, 1, "hi\n", 3);
    syscall(SYS_openat, AT_FDCWD, "/nonexistent/file", O_RDONLY, 0);
    syscall(SYS_close, 12345);
    syscall(SYS_exit_group, 3);
    return 0;
}
