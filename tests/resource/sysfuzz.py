"""Random syscalls as a whole guest program: every number dbt serves (and some it does not), with
random arguments (small and huge integers, fds, flags, pointers to strings and buffers in the
program, null, unmapped and non-canonical pointers), built as a tiny ELF from a case number.

Calls that may block for ever on their own (sleeps, waits, pause, pipes and FIFOs one could read
with no writer) and those that end the program (exit, signals to self, sigreturn) are left out,
so a run goes through every call. Nothing here knows what dbt returns.
"""
import random

from oracle.native import assemble
from tinyelf import ENTRY, PF_R, PF_W, PF_X, tiny_elf

BLOCKING_OR_ENDING = {7, 15, 22, 34, 35, 60, 62, 128, 130, 133, 162, 200, 202, 230, 231, 234, 259, 271, 293}
EXTRA_NUMBERS = (23, 56, 57, 59, 101, 165, 335, 448, 1000, 1 << 32, (1 << 64) - 1)
STRINGS = (b".", b"..", b"/", b"a", b"a/b", b"/proc/self/root", b"/proc/self/exe", b"/dev/null",
           b"../../..", b"x" * 300, b"")
DATA_SIZE = 0x2000


def _value(rng: random.Random, data: int, strings: list[int]) -> int:
    choice = rng.randrange(10)
    if choice < 3:
        return rng.choice(strings)
    if choice == 3:
        return data + rng.randrange(DATA_SIZE)
    if choice == 4:
        return rng.choice((0, 1 << 63, 1 << 36, (1 << 64) - 8, 0x1000, data + DATA_SIZE - 4))
    if choice == 5:
        return rng.choice((0, 1, 2, 3, 4, 5, 100, (1 << 64) - 100, (1 << 64) - 1, 1 << 31))   # fds, AT_FDCWD
    if choice == 6:
        return rng.choice((1 << 32, 1 << 40, (1 << 63) - 1, 1 << 63, (1 << 64) - 1, 0x7FFF_FFFF))
    return rng.getrandbits(rng.choice((4, 8, 16, 32, 64)))


def syscall_program(number: int, calls: int = 40) -> tuple[bytes, list[tuple[int, ...]]]:
    """(ELF bytes, the (nr, args...) it makes) for case `number`."""
    from dbt.runtime.linux.syscalls import SYSCALLS
    rng = random.Random(f"dbt-sysfuzz-{number}")
    numbers = sorted(set(SYSCALLS) - BLOCKING_OR_ENDING) + list(EXTRA_NUMBERS)
    made, lines = [], []
    code_budget = 0x2000
    data = ENTRY + code_budget
    blob = bytearray()
    strings = []
    for s in STRINGS:
        strings.append(data + len(blob))
        blob += s + b"\0"
    blob += rng.randbytes(DATA_SIZE - len(blob))
    for _ in range(calls):
        call = (rng.choice(numbers), *(_value(rng, data, strings) for _ in range(6)))
        made.append(call)
        regs = ("rax", "rdi", "rsi", "rdx", "r10", "r8", "r9")
        lines += [f"movabs {reg}, {value:#x}" for reg, value in zip(regs, call)] + ["syscall"]
    lines += ["mov edi, 0", "mov eax, 231", "syscall"]
    code = assemble("; ".join(lines), ENTRY)
    assert len(code) <= code_budget
    return tiny_elf(code + bytes(code_budget - len(code)) + bytes(blob), PF_R | PF_W | PF_X), made
