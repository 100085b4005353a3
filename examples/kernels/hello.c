/* hello: the smallest example kernel. Checks the boot info, greets over the
 * UART (polling LSR bit 5 before each byte), echoes the --append command
 * line, and ends the run through the debug-exit port 0xF4 (status 1 when
 * every check passed, 65 otherwise).
 *
 *     dbt run --machine pc --append "hi there" examples/kernels/build/hello.elf */
#include "io.h"

void kmain(const struct bootinfo *boot)
{
    console_init(CONSOLE_UART);
    kputs("Hello from the dbt pc machine!\n");
    int ok = boot->magic == BOOT_MAGIC && boot->ram_size >= (1u << 20) && boot->ram_size % 4096 == 0;
    const char *cmdline = (const char *)boot->cmdline_addr;
    ok = ok && cmdline[boot->cmdline_len] == '\0' && strlen(cmdline) == boot->cmdline_len;
    kprintf("boot info: magic=0x%lx ram=%lu MiB cmdline=\"%s\"\n",
            boot->magic, boot->ram_size >> 20, cmdline);
    kputs(ok ? "hello: OK\n" : "hello: FAIL\n");
    debug_exit(ok ? KERNEL_OK : KERNEL_FAIL);
}
