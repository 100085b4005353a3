/* io.h: what every example kernel for the dbt pc machine uses (MACHINE.md).
 *
 * Port I/O, the hypercall interface (vmcall), the two ways to end a run,
 * the boot info block, and a small console (lib.c) that prints over the
 * UART, the debug console port 0xE9 or hypercall 1. Freestanding: no libc. */
#ifndef IO_H
#define IO_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* -- port I/O ------------------------------------------------------------ */
static inline void outb(uint16_t port, uint8_t v)  { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port)  { uint8_t v;  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint16_t inw(uint16_t port) { uint16_t v; __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

/* rep insw / rep outsw: `count` 16-bit words between a port and memory. */
static inline void insw(uint16_t port, void *dst, size_t count)
{
    __asm__ volatile("rep insw" : "+D"(dst), "+c"(count) : "d"(port) : "memory");
}
static inline void outsw(uint16_t port, const void *src, size_t count)
{
    __asm__ volatile("rep outsw" : "+S"(src), "+c"(count) : "d"(port) : "memory");
}

/* -- CPU ------------------------------------------------------------------- */
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
/* Enable interrupts and wait for one (sti's one-instruction shadow covers hlt). */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }
static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}
static inline uint64_t read_cr2(void) { uint64_t v; __asm__ volatile("mov %%cr2, %0" : "=r"(v)); return v; }

/* -- hypercalls (vmcall: number in rax, arguments in rdi, rsi) ---------------- */
enum { HC_VERSION = 0, HC_CONSOLE_WRITE = 1, HC_EXIT = 2, HC_TIME = 3 };

static inline uint64_t hypercall(uint64_t nr, uint64_t a0, uint64_t a1)
{
    uint64_t ret;
    __asm__ volatile("vmcall" : "=a"(ret) : "a"(nr), "D"(a0), "S"(a1) : "memory");
    return ret;
}

/* -- ending the run ---------------------------------------------------------- */
#define DEBUG_EXIT_PORT 0xF4
/* isa-debug-exit: the host exit status becomes (v << 1) | 1. */
static inline __attribute__((noreturn)) void debug_exit(uint8_t v)
{
    for (;;)
        outb(DEBUG_EXIT_PORT, v);
}
/* Hypercall 2: the host exit status is `status` itself. */
static inline __attribute__((noreturn)) void hypercall_exit(uint8_t status)
{
    for (;;)
        hypercall(HC_EXIT, status, 0);
}
/* The debug-exit values the example kernels use: status 1 means "all checks passed". */
#define KERNEL_OK   0x00    /* host status 1 */
#define KERNEL_FAIL 0x20    /* host status 65 */

/* -- boot info (at RDI on entry) ------------------------------------------------ */
#define BOOT_MAGIC 0x4350544244ULL   /* "DBTPC" */
struct bootinfo {
    uint64_t magic;
    uint64_t ram_size;
    uint64_t cmdline_addr;
    uint64_t cmdline_len;
};

/* -- console and helpers (lib.c) -------------------------------------------------- */
enum console { CONSOLE_UART, CONSOLE_DEBUGCON, CONSOLE_HYPERCALL };
#define COM1 0x3F8
#define DEBUGCON_PORT 0xE9

void console_init(enum console which);   /* UART: 115200 8N1, FIFO on, interrupts off */
void kputc(char c);
void kputs(const char *s);
void kprintf(const char *fmt, ...);       /* %d %u %x %s %c, with l/ll and a width; %% */
void kvprintf(const char *fmt, va_list ap);

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int str_starts(const char *s, size_t len, const char *prefix);
uint64_t parse_u64(const char *s, size_t len);    /* leading decimal digits */

#endif
