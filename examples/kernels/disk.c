/* disk: the ATA disk (primary master) in PIO mode, polled (nIEN set, IF=0).
 *
 * IDENTIFY DEVICE (model, LBA28 sector count), READ SECTORS of sector 0
 * (printed as text up to the first NUL: the test puts a label there), then
 * WRITE SECTORS of a pattern to sectors FIRST .. FIRST+COUNT-1, CACHE FLUSH,
 * READ SECTORS back and compare. Byte i of sector s holds
 *     ((s * 37 + i * 11 + (i >> 8)) & 0xFF) ^ 0xA5
 * (tests/system/test_kernels.py checks the image file for the same bytes).
 * With --append quick it writes the pattern and ends the run at once
 * through port 0xF4, without flushing or reading back: the image must
 * still hold every written sector. */
#include "io.h"

#define ATA_DATA 0x1F0
#define ATA_ERROR 0x1F1
#define ATA_COUNT 0x1F2
#define ATA_LBA0 0x1F3
#define ATA_LBA1 0x1F4
#define ATA_LBA2 0x1F5
#define ATA_DEVICE 0x1F6
#define ATA_STATUS 0x1F7        /* reads: status; writes: command */
#define ATA_CONTROL 0x3F6

#define BSY 0x80
#define DRQ 0x08
#define ERR 0x01
#define NIEN 0x02

#define CMD_READ 0x20
#define CMD_WRITE 0x30
#define CMD_FLUSH 0xE7
#define CMD_IDENTIFY 0xEC

#define FIRST 1
#define COUNT 8

static uint16_t buffer[COUNT][256];

static uint8_t pattern(unsigned sector, unsigned i)
{
    return (uint8_t)(((sector * 37 + i * 11 + (i >> 8)) & 0xFF) ^ 0xA5);
}

static uint8_t wait_idle(void)
{
    uint8_t s;
    while ((s = inb(ATA_STATUS)) & BSY)
        ;
    return s;
}

/* Wait for the data request of the next sector; 0 if the command failed. */
static int wait_drq(void)
{
    uint8_t s = wait_idle();
    if (s & ERR) {
        kprintf("disk: error: status=0x%x error=0x%x\n", s, inb(ATA_ERROR));
        return 0;
    }
    return (s & DRQ) != 0;
}

static void command(uint8_t cmd, uint32_t lba, uint8_t count)
{
    wait_idle();
    outb(ATA_DEVICE, 0xE0 | ((lba >> 24) & 0x0F));     /* master, LBA */
    outb(ATA_COUNT, count);
    outb(ATA_LBA0, lba & 0xFF);
    outb(ATA_LBA1, (lba >> 8) & 0xFF);
    outb(ATA_LBA2, (lba >> 16) & 0xFF);
    outb(ATA_STATUS, cmd);
}

static int transfer(uint8_t cmd, uint32_t lba, unsigned count, uint16_t (*data)[256])
{
    command(cmd, lba, (uint8_t)count);
    for (unsigned s = 0; s < count; s++) {
        if (!wait_drq())
            return 0;
        if (cmd == CMD_WRITE)
            outsw(ATA_DATA, data[s], 256);
        else
            insw(ATA_DATA, data[s], 256);
    }
    return !(wait_idle() & ERR);
}

static void ata_string(const uint16_t *words, unsigned n, char *out)
{
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = (char)(words[i] >> 8);
        out[2 * i + 1] = (char)words[i];
    }
    unsigned len = 2 * n;
    while (len && out[len - 1] == ' ')
        len--;
    out[len] = 0;
}

void kmain(const struct bootinfo *boot)
{
    console_init(CONSOLE_UART);
    const char *cmdline = (const char *)boot->cmdline_addr;
    int quick = str_starts(cmdline, boot->cmdline_len, "quick");
    outb(ATA_CONTROL, NIEN);

    outb(ATA_DEVICE, 0xA0);
    outb(ATA_STATUS, CMD_IDENTIFY);
    if (inb(ATA_STATUS) == 0 || !wait_drq()) {
        kputs("disk: no drive\nFAIL\n");
        debug_exit(KERNEL_FAIL);
    }
    static uint16_t id[256];
    insw(ATA_DATA, id, 256);
    char model[41];
    ata_string(id + 27, 20, model);
    uint32_t sectors = id[60] | (uint32_t)id[61] << 16;
    kprintf("disk: model=\"%s\" sectors=%u lba=%u\n", model, sectors, (id[49] >> 9) & 1);

    if (!transfer(CMD_READ, 0, 1, buffer)) {
        kputs("disk: reading sector 0 FAIL\n");
        debug_exit(KERNEL_FAIL);
    }
    char label[33];
    memcpy(label, buffer[0], 32);
    label[32] = 0;
    kprintf("disk: sector 0 says \"%s\"\n", label);

    for (unsigned s = 0; s < COUNT; s++)
        for (unsigned i = 0; i < 512; i++)
            ((uint8_t *)buffer[s])[i] = pattern(FIRST + s, i);
    int ok = transfer(CMD_WRITE, FIRST, COUNT, buffer);
    kprintf("disk: wrote sectors %u-%u %s\n", FIRST, FIRST + COUNT - 1, ok ? "OK" : "FAIL");
    if (quick)
        debug_exit(ok ? KERNEL_OK : KERNEL_FAIL);

    command(CMD_FLUSH, 0, 0);
    ok = !(wait_idle() & ERR) && ok;
    memset(buffer, 0, sizeof(buffer));
    ok = transfer(CMD_READ, FIRST, COUNT, buffer) && ok;
    unsigned bad = 0;
    for (unsigned s = 0; s < COUNT; s++)
        for (unsigned i = 0; i < 512; i++)
            bad += ((uint8_t *)buffer[s])[i] != pattern(FIRST + s, i);
    kprintf("disk: read back %u sectors, %u bytes differ\n", COUNT, bad);
    ok = ok && bad == 0 && sectors > FIRST + COUNT;
    kprintf("disk: %s\n", ok ? "OK" : "FAIL");
    debug_exit(ok ? KERNEL_OK : KERNEL_FAIL);
}
