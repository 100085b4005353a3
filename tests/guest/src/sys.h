/* sys.h: the whole "libc" of the C guest programs. Raw write/exit/exit_group
 * syscalls, a few print helpers, and _start. Guests use no other syscall, so
 * every engine can run them; include this from exactly one .c file. */
#ifndef GUEST_SYS_H
#define GUEST_SYS_H

typedef unsigned long u64;
typedef long i64;

/* _start: argc at [rsp], argv at rsp+8. Align the stack, call main, then
 * exit_group(main's return value). */
__asm__(
    ".globl _start\n"
    "_start:\n"
    "  xor %ebp, %ebp\n"
    "  mov (%rsp), %rdi\n"
    "  lea 8(%rsp), %rsi\n"
    "  and $-16, %rsp\n"
    "  call main\n"
    "  mov %eax, %edi\n"
    "  mov $231, %eax\n"
    "  syscall\n"
    "  hlt\n");

static inline i64 sys_write(int fd, const void *buf, u64 len)
{
    i64 ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "0"(1L), "D"((i64)fd), "S"(buf), "d"(len)
                     : "rcx", "r11", "memory");
    return ret;
}

static inline __attribute__((noreturn)) void sys_exit(int code)
{
    __asm__ volatile("syscall" : : "a"(60L), "D"((i64)code) : "rcx", "r11", "memory");
    __builtin_unreachable();
}

/* The empty asm stops gcc from turning the loop into a call to strlen,
 * which does not exist here. */
static u64 str_len(const char *s)
{
    u64 n = 0;
    while (s[n]) {
        __asm__("" : "+r"(n));
        n++;
    }
    return n;
}

static void put_str(const char *s) { sys_write(1, s, str_len(s)); }

/* Decimal, with a leading '-' for negative values. */
static void put_dec(i64 v)
{
    char buf[24];
    int i = sizeof buf;
    u64 u = v < 0 ? -(u64)v : (u64)v;
    do {
        buf[--i] = '0' + u % 10;
        u /= 10;
    } while (u);
    if (v < 0)
        buf[--i] = '-';
    sys_write(1, buf + i, sizeof buf - i);
}

/* Always 16 hex digits with a 0x prefix. */
static void put_hex(u64 v)
{
    char buf[18] = {'0', 'x'};
    for (int i = 17; i >= 2; i--, v >>= 4)
        buf[i] = "0123456789abcdef"[v & 15];
    sys_write(1, buf, sizeof buf);
}

/* "name value\n" in decimal or hex. */
static void show_dec(const char *name, i64 v) { put_str(name); put_str(" "); put_dec(v); put_str("\n"); }
static void show_hex(const char *name, u64 v) { put_str(name); put_str(" "); put_hex(v); put_str("\n"); }

#endif
