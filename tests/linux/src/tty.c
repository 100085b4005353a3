/* Terminal ioctls on a pty: TCGETS (tcgetattr), TIOCGWINSZ, TCSETS (tcsetattr). */
#include <stdio.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

int main(void) {
    struct termios t;
    struct winsize w;
    int a = tcgetattr(0, &t);
    int b = ioctl(1, TIOCGWINSZ, &w);
    printf("tcgetattr=%d lflag=%o cc0=%d isatty=%d winsz=%d %dx%d\n", a, t.c_lflag, t.c_cc[0], isatty(1),
           b, w.ws_row, w.ws_col);
    t.c_lflag &= ~ECHO;
    printf("set=%d\n", tcsetattr(0, TCSANOW, &t));
    tcgetattr(0, &t);
    printf("echo off=%d\n", !(t.c_lflag & ECHO));
    t.c_lflag |= ECHO;
    tcsetattr(0, TCSANOW, &t);
    return 0;
}
