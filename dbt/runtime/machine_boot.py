"""The pc machine's boot protocol (MACHINE.md "Boot protocol"): RAM size, kernel ELF, boot info, entry state.

Everything about the kernel file is checked before the guest starts: a file
that is not an ELF64 x86-64 executable, a segment outside RAM, over the boot
area below 0x8000 or over another segment, or an entry point outside the
segments raises BadKernel with one line (exit status 126).
Nothing here runs guest code or knows about devices.
"""
import struct
from dataclasses import dataclass

from dbt.runtime.cpu import FLAGS_FIXED
from dbt.runtime.elf_image import overlapping, read_elf
from dbt.runtime.memory import PAGE_MASK

BOOT_INFO = 0x7000            # boot info block; RDI points here at entry
CMDLINE_ADDR = 0x7100         # --append text, NUL-terminated
BOOT_AREA_END = 0x8000        # kernel segments must not reach below this
BOOT_MAGIC = 0x4350544244     # "DBTPC"
ENTRY_RSP = 0x80000
MAX_CMDLINE = BOOT_AREA_END - CMDLINE_ADDR - 1

DEFAULT_RAM = 64 << 20
MIN_RAM = 1 << 20             # the stack at 0x80000 and the VGA buffer at 0xB8000 must be RAM
MAX_RAM = 1 << 36

# Long mode as a boot loader leaves it: CR0.PE|ET|PG, CR4.PAE, EFER.LME|LMA.
ENTRY_CR0 = (1 << 0) | (1 << 4) | (1 << 31)
ENTRY_CR4 = 1 << 5
ENTRY_EFER = (1 << 8) | (1 << 10)

SIZE_SUFFIXES = {"": 1 << 20, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


class BadKernel(Exception):
    """The kernel file cannot be booted (exit status 126)."""


@dataclass
class Segment:
    paddr: int
    data: bytes
    memsz: int


@dataclass
class Kernel:
    entry: int
    segments: list[Segment]


def parse_size(text: str, unit: int = SIZE_SUFFIXES[""]) -> int:
    """A size with an optional K/M/G/T suffix (optionally 'B', 'iB'); a bare number counts `unit`s."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    suffix = t[-1:] if t[-1:] in SIZE_SUFFIXES and t[-1:] else ""
    digits = t[:len(t) - len(suffix)]
    if not digits.isdigit():
        raise ValueError(f"bad memory size {text!r} (examples: 64M, 128M, 1G)")
    return int(digits) * (SIZE_SUFFIXES[suffix] if suffix else unit)


def parse_ram_size(text: str) -> int:
    """`-m` as QEMU takes it: a number of MiB, or with a K/M/G/T suffix (optionally 'B', 'iB')."""
    size = parse_size(text)
    if size & PAGE_MASK:
        raise ValueError(f"memory size {text!r} is not a multiple of 4 KiB")
    if not MIN_RAM <= size <= MAX_RAM:
        raise ValueError(f"memory size {text!r} is outside {MIN_RAM >> 20} MiB .. {MAX_RAM >> 30} GiB")
    return size


def read_kernel(path: str, ram_size: int) -> Kernel:
    """Parse and check the kernel ELF; BadKernel (one line) on anything that cannot boot."""
    image = read_elf(path, BadKernel)
    segments = []
    for seg in image.loads:
        paddr, memsz = seg.paddr, seg.memsz
        if paddr + memsz > ram_size:
            raise BadKernel(f"{path}: segment at {paddr:#x} size {memsz:#x} is outside RAM "
                            f"(0..{ram_size:#x}; -m sets the RAM size)")
        if paddr < BOOT_AREA_END:
            raise BadKernel(f"{path}: segment at {paddr:#x} size {memsz:#x} overlaps the boot area "
                            f"below {BOOT_AREA_END:#x}")
        segments.append(Segment(paddr, seg.data, memsz))
    clash = overlapping(image.loads, lambda s: s.paddr)
    if clash:
        raise BadKernel(f"{path}: segments at {clash[0].paddr:#x} and {clash[1].paddr:#x} overlap")
    if not any(s.paddr <= image.entry < s.paddr + s.memsz for s in image.loads):
        raise BadKernel(f"{path}: entry point {image.entry:#x} is not in a loaded segment")
    return Kernel(image.entry, segments)


def load_kernel(kernel: Kernel, mem) -> None:
    """Copy each PT_LOAD to its physical address into fresh (all-zero) RAM: the rest of p_memsz
    is already zero, and stays uncommitted however large it is."""
    for seg in kernel.segments:
        mem.poke(seg.paddr, seg.data)


def write_boot_info(mem, ram_size: int, cmdline: bytes) -> None:
    if len(cmdline) > MAX_CMDLINE:
        raise ValueError(f"--append text is {len(cmdline)} bytes; at most {MAX_CMDLINE} fit")
    mem.poke(BOOT_INFO, struct.pack("<4Q", BOOT_MAGIC, ram_size, CMDLINE_ADDR, len(cmdline)))
    mem.poke(CMDLINE_ADDR, cmdline + b"\0")


def set_entry_state(cpu, entry: int) -> None:
    """64-bit long mode, CPL 0, interrupts off: RIP=entry, RSP=0x80000, RDI=boot info."""
    cpu.rip = entry
    cpu.rsp = ENTRY_RSP
    cpu.rdi = BOOT_INFO
    cpu.cc_op, cpu.cc_src, cpu.cc_dst, cpu.cc_src2, cpu.df = 0, 0, 0, 0, 0
    cpu.eflags = FLAGS_FIXED
    cpu.cr0, cpu.cr2, cpu.cr3, cpu.cr4 = ENTRY_CR0, 0, 0, ENTRY_CR4
    cpu.efer = ENTRY_EFER
    cpu.idt_base = cpu.idt_limit = cpu.gdt_base = cpu.gdt_limit = 0
