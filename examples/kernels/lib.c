/* lib.c: the example kernels' console and the few C library functions gcc may call.
 *
 * The console goes to one of three places: the 16550 UART (COM1, polling
 * LSR bit 5 before each byte), the debug console port 0xE9 (one out per
 * byte), or hypercall 1 (kprintf formats into a buffer and sends it with
 * one vmcall: one exit per call instead of one per byte). */
#include "io.h"

static enum console console = CONSOLE_UART;

#define LSR_THRE 0x20
#define HC_BUFFER 256

void console_init(enum console which)
{
    console = which;
    if (which != CONSOLE_UART)
        return;
    outb(COM1 + 1, 0x00);       /* IER: no interrupts */
    outb(COM1 + 3, 0x80);       /* LCR: DLAB on */
    outb(COM1 + 0, 0x01);       /* divisor 1: 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);       /* 8N1, DLAB off */
    outb(COM1 + 2, 0xC7);       /* FIFO on and cleared */
    outb(COM1 + 4, 0x03);       /* DTR RTS */
}

static void uart_putc(char c)
{
    while (!(inb(COM1 + 5) & LSR_THRE))
        ;
    outb(COM1, (uint8_t)c);
}

/* Output collected for one hypercall; flushed when full and at the end of kprintf. */
static char hc_buf[HC_BUFFER];
static size_t hc_len;

static void hc_flush(void)
{
    if (hc_len)
        hypercall(HC_CONSOLE_WRITE, (uint64_t)hc_buf, hc_len);
    hc_len = 0;
}

static void emit(char c)
{
    switch (console) {
    case CONSOLE_UART:
        uart_putc(c);
        break;
    case CONSOLE_DEBUGCON:
        outb(DEBUGCON_PORT, (uint8_t)c);
        break;
    case CONSOLE_HYPERCALL:
        hc_buf[hc_len++] = c;
        if (hc_len == HC_BUFFER)
            hc_flush();
        break;
    }
}

void kputc(char c)
{
    emit(c);
    hc_flush();
}

void kputs(const char *s)
{
    while (*s)
        emit(*s++);
    hc_flush();
}

static void put_number(uint64_t v, unsigned base, int negative, int width, char pad)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (negative)
        digits[n++] = '-';
    for (int i = n; i < width; i++)
        emit(pad);
    while (n)
        emit(digits[--n]);
}

void kvprintf(const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            emit(*fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        int width = 0, longs = 0;
        if (*fmt == '0')
            pad = '0';
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l') {
            longs++;
            fmt++;
        }
        switch (*fmt) {
        case 'd': {
            int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
            put_number(v < 0 ? -(uint64_t)v : (uint64_t)v, 10, v < 0, width, pad);
            break;
        }
        case 'u':
            put_number(longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10, 0, width, pad);
            break;
        case 'x':
            put_number(longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16, 0, width, pad);
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            while (*s)
                emit(*s++);
            break;
        }
        case 'c':
            emit((char)va_arg(ap, int));
            break;
        case '%':
            emit('%');
            break;
        default:            /* unknown conversion: show it as written */
            emit('%');
            emit(*fmt);
            break;
        }
        if (!*fmt)
            break;
    }
}

void kprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kvprintf(fmt, ap);
    va_end(ap);
    hc_flush();
}

void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--)
        *d++ = *s++;
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x - *y;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int str_starts(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(s, prefix, n) == 0;
}

uint64_t parse_u64(const char *s, size_t len)
{
    uint64_t v = 0;
    for (size_t i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    return v;
}
