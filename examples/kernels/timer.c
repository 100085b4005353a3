/* timer: interrupts from the 8254 PIT through the 8259A PIC, and the CMOS RTC.
 *
 * Remaps the PIC to vectors 0x20-0x2F, unmasks IRQ 0 only, programs PIT
 * channel 0 in mode 2 at 1193182 / 1193 Hz (about 1000 Hz), then waits with
 * `sti; hlt` until TICKS interrupts have come. Checks that the virtual time
 * they took (hypercall 3, and rdtsc at 1 GHz) is TICKS periods, that a
 * latched PIT count lies within one period, and that the RTC shows a valid
 * date; prints what it measured and exits through port 0xF4. */
#include "idt.h"
#include "io.h"

#define TICKS 100
#define PIT_HZ 1193182ULL
#define PIT_DIVISOR 1193
#define IRQ_BASE 0x20

static volatile uint64_t ticks;

static void on_timer(struct frame *f)
{
    (void)f;
    ticks++;
    outb(0x20, 0x20);                   /* non-specific EOI */
}

static void pic_init(void)
{
    outb(0x20, 0x11); outb(0xA0, 0x11); /* ICW1: edge, cascade, ICW4 follows */
    outb(0x21, IRQ_BASE); outb(0xA1, IRQ_BASE + 8);   /* ICW2: vector offsets */
    outb(0x21, 0x04); outb(0xA1, 0x02); /* ICW3: slave on IRQ 2 */
    outb(0x21, 0x01); outb(0xA1, 0x01); /* ICW4: 8086 mode */
    outb(0x21, 0xFE); outb(0xA1, 0xFF); /* OCW1: only IRQ 0 */
}

static void pit_periodic(uint16_t divisor)
{
    outb(0x43, 0x34);                   /* channel 0, lobyte/hibyte, mode 2, binary */
    outb(0x40, divisor & 0xFF);
    outb(0x40, divisor >> 8);
}

static uint16_t pit_read(void)
{
    outb(0x43, 0x00);                   /* latch channel 0 */
    uint8_t lo = inb(0x40);
    return (uint16_t)(lo | inb(0x40) << 8);
}

static uint8_t cmos(uint8_t reg)
{
    outb(0x70, reg);
    return inb(0x71);
}

static unsigned from_bcd(uint8_t v) { return (v >> 4) * 10 + (v & 0x0F); }

static int rtc_check(void)
{
    while (cmos(0x0A) & 0x80)           /* update in progress */
        ;
    unsigned sec = cmos(0x00), min = cmos(0x02), hour = cmos(0x04);
    unsigned day = cmos(0x07), month = cmos(0x08), year = cmos(0x09), century = cmos(0x32);
    uint8_t b = cmos(0x0B);
    if (!(b & 0x04)) {                  /* BCD */
        sec = from_bcd(sec); min = from_bcd(min); hour = from_bcd(hour);
        day = from_bcd(day); month = from_bcd(month); year = from_bcd(year); century = from_bcd(century);
    }
    kprintf("rtc: %02u%02u-%02u-%02u %02u:%02u:%02u (24h=%u bcd=%u)\n", century, year, month, day,
            hour, min, sec, (b >> 1) & 1, !(b & 0x04));
    return sec < 60 && min < 60 && hour < 24 && day >= 1 && day <= 31 && month >= 1 && month <= 12
        && (b & 0x02) && century >= 19;
}

void kmain(const struct bootinfo *boot)
{
    (void)boot;
    console_init(CONSOLE_UART);
    idt_init();
    idt_set_handler(IRQ_BASE + 0, on_timer);
    pic_init();

    uint64_t t0 = hypercall(HC_TIME, 0, 0), tsc0 = rdtsc();
    pit_periodic(PIT_DIVISOR);
    while (ticks < TICKS)
        sti_hlt();
    cli();
    uint64_t elapsed = hypercall(HC_TIME, 0, 0) - t0, tsc_elapsed = rdtsc() - tsc0;
    uint16_t count = pit_read();

    uint64_t period = PIT_DIVISOR * 1000000000ULL / PIT_HZ;
    uint64_t low = TICKS * PIT_DIVISOR * 1000000000ULL / PIT_HZ;
    int time_ok = elapsed >= low && elapsed < low + period;
    int tsc_ok = tsc_elapsed + 1000 > elapsed && tsc_elapsed < elapsed + 1000;
    int count_ok = count >= 1 && count <= PIT_DIVISOR;
    kprintf("timer: ticks=%lu period_ns=%lu elapsed_ns=%lu tsc_elapsed=%lu pit_count=%u\n",
            ticks, period, elapsed, tsc_elapsed, count);
    kprintf("timer: time %s, rdtsc %s, pit count %s\n", time_ok ? "OK" : "FAIL",
            tsc_ok ? "OK" : "FAIL", count_ok ? "OK" : "FAIL");
    int rtc_ok = rtc_check();
    int ok = ticks == TICKS && time_ok && tsc_ok && count_ok && rtc_ok;
    kprintf("timer: ticks=%u %s\n", TICKS, ok ? "OK" : "FAIL");
    debug_exit(ok ? KERNEL_OK : KERNEL_FAIL);
}
