/* idt.h: exception and interrupt handlers for the example kernels (idt.c, entry.S). */
#ifndef IDT_H
#define IDT_H

#include <stdint.h>

/* What the stub in entry.S leaves on the stack, lowest address first. */
struct frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rdi, rsi, rbp, rbx, rdx, rcx, rax;
    uint64_t vector, error;             /* error: 0 for vectors without an error code */
    uint64_t rip, cs, rflags, rsp, ss;  /* pushed by the CPU */
};

typedef void (*isr_handler)(struct frame *);

void idt_init(void);                                /* all 256 gates present, lidt */
void idt_set_handler(unsigned vector, isr_handler h);
void idt_set_present(unsigned vector, int present);    /* clear to make the gate raise #NP */

#endif
