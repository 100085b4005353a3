"""Run raw x86-64 code (no ELF, no OS) and read its registers.

    python examples/api/shellcode.py [N]
assembles a loop (keystone) that sums 1..N and counts set bits, runs it, and prints
`code HEX` (the bytes run, ending in ret), `rax`, `rbx`, `rflags` and `icount`.
"""
import sys

from keystone import KS_ARCH_X86, KS_MODE_64, Ks

from dbt.api import Emulator

SOURCE = """
    xor eax, eax
    mov rcx, rdi
again:
    add rax, rcx
    dec rcx
    jnz again
    popcnt rbx, rax
    cmp rax, rbx
    ret
"""
BASE, STACK = 0x400000, 0x800000


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 100
    code = bytes(Ks(KS_ARCH_X86, KS_MODE_64).asm(SOURCE, BASE)[0])
    emu = Emulator()
    emu.map(BASE, 0x1000, "rx")
    emu.map(STACK - 0x1000, 0x1000, "rw")
    emu.write(BASE, code)
    emu.reg_write("rdi", n)
    emu.reg_write("rsp", STACK - 8)
    ret = BASE + len(code) - 1            # stop before the final ret
    stop = emu.run(start=BASE, until=ret)
    assert stop.reason == "until", stop
    print("code", code.hex())
    print("rax", emu.reg_read("rax"))
    print("rbx", emu.reg_read("rbx"))
    print("rflags", hex(emu.reg_read("rflags")))
    print("icount", emu.cpu.icount)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
