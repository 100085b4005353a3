/* console: console throughput, for benchmarks/test_console.py.
 *
 * --append "MODE BYTES" writes BYTES bytes of text (lines of 63 letters and
 * a newline) to the console, then ends the run with hypercall 2 (status 0).
 * MODE is how each byte leaves the guest:
 *   uart       one write to the UART's THR per byte (no LSR polling: the
 *              model's transmitter is always empty), so one exit per byte;
 *   debugcon   one write to port 0xE9 per byte;
 *   hypercall  one vmcall per CHUNK bytes. */
#include "io.h"

#define CHUNK 4096

static char chunk[CHUNK];

static char text_byte(uint64_t i)
{
    return i % 64 == 63 ? '\n' : (char)('a' + i % 64 % 26);
}

void kmain(const struct bootinfo *boot)
{
    const char *cmdline = (const char *)boot->cmdline_addr;
    size_t len = boot->cmdline_len;
    size_t space = 0;
    while (space < len && cmdline[space] != ' ')
        space++;
    uint64_t bytes = space < len ? parse_u64(cmdline + space + 1, len - space - 1) : 0;

    if (str_starts(cmdline, len, "uart")) {
        for (uint64_t i = 0; i < bytes; i++)
            outb(COM1, (uint8_t)text_byte(i));
    } else if (str_starts(cmdline, len, "debugcon")) {
        for (uint64_t i = 0; i < bytes; i++)
            outb(DEBUGCON_PORT, (uint8_t)text_byte(i));
    } else if (str_starts(cmdline, len, "hypercall")) {
        for (uint64_t done = 0; done < bytes;) {
            uint64_t n = bytes - done < CHUNK ? bytes - done : CHUNK;
            for (uint64_t i = 0; i < n; i++)
                chunk[i] = text_byte(done + i);
            hypercall(HC_CONSOLE_WRITE, (uint64_t)chunk, n);
            done += n;
        }
    } else {
        console_init(CONSOLE_DEBUGCON);
        kputs("console: usage: --append \"uart|debugcon|hypercall BYTES\"\n");
        hypercall_exit(1);
    }
    hypercall_exit(0);
}
