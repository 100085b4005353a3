/* vga: a coloured text screen in the VGA buffer at 0xB8000 (80x25 cells of
 * character and attribute), read back, then the run ends through port 0xF4
 * (dbt's --screenshot renders the screen as it stands then).
 *
 * Layout (tests/system/test_kernels.py checks the picture against it):
 *   - every cell starts as a space with attribute 0x17 (light grey on blue);
 *   - row 0, from column 0: TITLE with attribute 0x1E (yellow on blue);
 *   - rows 2-9, one per background b = 0..7: at column 4 * f + 2 for each
 *     foreground f = 0..15, the character 0xDB (full block) and then the
 *     letter 'a' + f, both with attribute (b << 4) | f;
 *   - row 12, from column 0: GREETING with attribute 0x4F (white on red). */
#include "io.h"

#define COLUMNS 80
#define ROWS 25
#define TITLE "dbt pc machine: VGA text mode"
#define GREETING "Hello, VGA!"

static volatile uint16_t *const screen = (volatile uint16_t *)0xB8000;

static void put(unsigned row, unsigned col, uint8_t ch, uint8_t attr)
{
    screen[row * COLUMNS + col] = (uint16_t)(attr << 8 | ch);
}

static void text(unsigned row, unsigned col, const char *s, uint8_t attr)
{
    while (*s)
        put(row, col++, (uint8_t)*s++, attr);
}

void kmain(const struct bootinfo *boot)
{
    (void)boot;
    console_init(CONSOLE_UART);
    for (unsigned i = 0; i < COLUMNS * ROWS; i++)
        screen[i] = 0x1720;
    text(0, 0, TITLE, 0x1E);
    for (unsigned b = 0; b < 8; b++)
        for (unsigned f = 0; f < 16; f++) {
            put(2 + b, 4 * f + 2, 0xDB, (uint8_t)(b << 4 | f));
            put(2 + b, 4 * f + 3, (uint8_t)('a' + f), (uint8_t)(b << 4 | f));
        }
    text(12, 0, GREETING, 0x4F);

    unsigned bad = 0;
    for (unsigned b = 0; b < 8; b++)
        for (unsigned f = 0; f < 16; f++)
            bad += screen[(2 + b) * COLUMNS + 4 * f + 2] != (uint16_t)((b << 4 | f) << 8 | 0xDB);
    bad += screen[0] != (0x1E00 | 'd') || screen[COLUMNS * ROWS - 1] != 0x1720;
    kprintf("vga: %ux%u text screen written, %u cells wrong %s\n", COLUMNS, ROWS, bad, bad ? "FAIL" : "OK");
    debug_exit(bad ? KERNEL_FAIL : KERNEL_OK);
}
