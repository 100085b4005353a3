/* idt.c: a long-mode IDT of 256 interrupt gates pointing at entry.S's stubs,
 * and the C dispatch they call. An interrupt with no handler prints what
 * happened and ends the run with KERNEL_FAIL. */
#include "idt.h"
#include "io.h"

struct gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t attributes;                 /* 0x8E: present, DPL 0, 64-bit interrupt gate */
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t reserved;
} __attribute__((packed));

struct table_pointer {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

extern const uint64_t isr_table[256];

static struct gate idt[256] __attribute__((aligned(16)));
static isr_handler handlers[256];

#define KERNEL_CS 0x08
#define INTERRUPT_GATE 0x8E

void idt_init(void)
{
    for (unsigned v = 0; v < 256; v++) {
        uint64_t entry = isr_table[v];
        idt[v] = (struct gate){
            .offset_low = (uint16_t)entry,
            .selector = KERNEL_CS,
            .attributes = INTERRUPT_GATE,
            .offset_mid = (uint16_t)(entry >> 16),
            .offset_high = (uint32_t)(entry >> 32),
        };
    }
    struct table_pointer p = { sizeof(idt) - 1, (uint64_t)idt };
    __asm__ volatile("lidt %0" :: "m"(p));
}

void idt_set_handler(unsigned vector, isr_handler h)
{
    handlers[vector & 0xFF] = h;
}

void idt_set_present(unsigned vector, int present)
{
    if (present)
        idt[vector & 0xFF].attributes |= 0x80;
    else
        idt[vector & 0xFF].attributes &= 0x7F;
}

void isr_dispatch(struct frame *f)
{
    isr_handler h = handlers[f->vector & 0xFF];
    if (h) {
        h(f);
        return;
    }
    kprintf("unexpected interrupt: vector=%lu error=0x%lx rip=0x%lx\nFAIL\n", f->vector, f->error, f->rip);
    debug_exit(KERNEL_FAIL);
}
