/* exceptions: CPU exceptions and software interrupts delivered through the IDT.
 *
 * Each case runs one instruction that faults (#DE, #UD, #GP, #PF on a read
 * and on a write beyond RAM, #NP from a gate marked not present) or traps
 * (int3, int 0x40). The handler records the vector, the error code, the RIP
 * the CPU pushed and CR2, then resumes after the instruction by rewriting
 * the saved RIP. The kernel checks each against the architecture: faults
 * push the faulting instruction's address, traps the next one; #GP and #PF
 * push an error code (bit 1 of #PF's: a write), #NP the gate's selector
 * index (vector * 8 + 2). Exits through port 0xF4. */
#include "idt.h"
#include "io.h"

struct seen {
    uint64_t vector, error, rip, cr2, count;
};

static volatile struct seen seen;
static volatile uint64_t resume_rip;

static void on_exception(struct frame *f)
{
    seen.vector = f->vector;
    seen.error = f->error;
    seen.rip = f->rip;
    seen.cr2 = f->vector == 14 ? read_cr2() : 0;
    seen.count++;
    f->rip = resume_rip;
}

/* Run INSN (AT&T syntax) between labels 1 and 2; the handler resumes at 2.
 * *at gets the address of label 1 (a fault's RIP), *after that of label 2. */
#define TRIGGER(insn, at, after, ...)                                   \
    __asm__ volatile("leaq 1f(%%rip), %0\n\t"                           \
                     "leaq 2f(%%rip), %1\n\t"                           \
                     "movq %1, resume_rip(%%rip)\n\t"                   \
                     "1: " insn "\n"                                    \
                     "2:"                                               \
                     : "=&r"(at), "=&r"(after) __VA_ARGS__)

static int passed, failed;

static void expect(const char *name, uint64_t vector, uint64_t error, uint64_t rip, uint64_t cr2, uint64_t before)
{
    int ok = seen.count == before + 1 && seen.vector == vector && seen.error == error && seen.rip == rip
        && seen.cr2 == cr2;
    kprintf("%s: vector=%lu error=0x%lx rip=%s cr2=0x%lx %s\n", name, seen.vector, seen.error,
            seen.rip == rip ? "expected" : "WRONG", seen.cr2, ok ? "OK" : "FAIL");
    if (ok)
        passed++;
    else
        failed++;
}

void kmain(const struct bootinfo *boot)
{
    console_init(CONSOLE_UART);
    idt_init();
    static const unsigned vectors[] = { 0, 3, 6, 11, 13, 14, 0x40 };
    for (unsigned i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
        idt_set_handler(vectors[i], on_exception);
    uint64_t at, after, n;
    uint64_t beyond = boot->ram_size + 0x1000;

    n = seen.count;
    TRIGGER("divl %%ecx", at, after, : "a"(1), "d"(0), "c"(0));
    expect("#DE div by zero", 0, 0, at, 0, n);

    n = seen.count;
    TRIGGER("ud2", at, after);
    expect("#UD ud2", 6, 0, at, 0, n);

    n = seen.count;
    TRIGGER("rdmsr", at, after, : "c"(0x12345678) : "rax", "rdx");
    expect("#GP rdmsr of an unknown MSR", 13, 0, at, 0, n);

    n = seen.count;
    TRIGGER("wrmsr", at, after, : "c"(0xC0000100), "a"(0), "d"(0x80000000));
    expect("#GP wrmsr of a non-canonical FS base", 13, 0, at, 0, n);

    n = seen.count;
    TRIGGER("movq (%2), %%rax", at, after, : "r"(beyond) : "rax");
    expect("#PF read beyond RAM", 14, 0, at, beyond, n);

    n = seen.count;
    TRIGGER("movq %%rax, (%2)", at, after, : "r"(beyond + 0x1008), "a"(0));
    expect("#PF write beyond RAM", 14, 2, at, beyond + 0x1008, n);

    n = seen.count;
    TRIGGER("int3", at, after);
    expect("#BP int3", 3, 0, after, 0, n);

    n = seen.count;
    TRIGGER("int $0x40", at, after);
    expect("int 0x40", 0x40, 0, after, 0, n);

    idt_set_present(0x41, 0);
    n = seen.count;
    TRIGGER("int $0x41", at, after);
    expect("#NP int 0x41 through a gate not present", 11, 0x41 * 8 + 2, at, 0, n);

    kprintf("exceptions: %d/%d %s\n", passed, passed + failed, failed ? "FAIL" : "OK");
    debug_exit(failed ? KERNEL_FAIL : KERNEL_OK);
}
