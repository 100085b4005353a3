"""The host protection of native code's view of guest memory (dbt/runtime/memory.py) always
lets through exactly what the permission table allows native code to do without asking:
after every kind of change, each page is readable and writable on the host by the rule,
and native code faults at the first byte the permissions refuse, at every width."""
import gc
import os
import random

import pytest

from dbt.api import Emulator
from oracle.native import assemble
from dbt.runtime.memory import CODE, MAX_SPACE, PAGE_SIZE, WATCH_R, WATCH_W, GuestMemory, R, W

SPACE = 1 << 28              # 64K pages: small enough to compare every page
PAGES = SPACE // PAGE_SIZE


def host_protections(mem: GuestMemory) -> list[tuple[bool, bool]]:
    """(readable, writable) of each page of native code's view of the space, as the host
    has it (/proc/self/maps)."""
    pages = [(False, False)] * mem.npages
    with open("/proc/self/maps") as maps:
        for line in maps:
            span, prot = line.split()[:2]
            start, end = (int(x, 16) for x in span.split("-"))
            first, last = max(start, mem.base), min(end, mem.base + mem.size)
            for page in range((first - mem.base) // PAGE_SIZE, (last - mem.base) // PAGE_SIZE):
                pages[page] = (prot[0] == "r", prot[1] == "w")
    return pages


def assert_host_follows_perms(mem: GuestMemory) -> None:
    """The rule, page by page: loads where readable and not watched; stores where readable
    and writable, not watched and holding no translated code."""
    want = [(v & (R | WATCH_R) == R, v & (R | W | WATCH_R | WATCH_W | CODE) == R | W) for v in bytes(mem.perms)[:-1]]
    assert host_protections(mem) == want


def test_host_protection_follows_every_kind_of_permission_change():
    mem = GuestMemory(SPACE)
    try:
        assert_host_follows_perms(mem)
        rng = random.Random(7)
        for step in range(300):
            first = rng.randrange(PAGES)
            count = rng.choice((1, 2, 17, 300, 5000))
            count = min(count, PAGES - first)
            addr, size = first * PAGE_SIZE, count * PAGE_SIZE
            kind = rng.choice(("map", "protect", "unmap", "watch", "unwatch", "code", "write"))
            if kind == "map":
                mem.map(addr, size, rng.choice(("r", "w", "rw", "rx", "rwx", 0)))
            elif kind == "protect":
                mem.protect(addr, size, rng.choice(("r", "rw", "", "rwx")))
            elif kind == "unmap":
                mem.unmap(addr, size)
            elif kind == "watch":
                mem.watch(set(range(first, first + min(count, 3))), rng.choice((WATCH_R, WATCH_W, WATCH_R | WATCH_W)))
            elif kind == "unwatch":
                mem.unwatch_all()
            elif kind == "code":
                mem.mark_code(addr, rng.randrange(1, 3 * PAGE_SIZE))
            else:                                 # a write over code drops its CODE mark
                code = [p for p, v in enumerate(bytes(mem.perms)) if v & CODE] or [first]
                mem.poke(rng.choice(code) * PAGE_SIZE, b"\x90")
            assert_host_follows_perms(mem)
    finally:
        mem.close()


def test_guest_memory_larger_than_the_limit_is_refused():
    with pytest.raises(ValueError, match="at most"):
        GuestMemory(2 * MAX_SPACE)


@pytest.mark.parametrize("perms, write, faults", [("r", False, False), ("r", True, True), ("w", True, False),
                                                  ("rw", True, False), ("x", False, True)])
def test_native_code_obeys_the_permissions_at_every_width(perms, write, faults):
    """Loads and stores of 1-16 bytes at page offsets around the end of a page whose permissions
    vary and whose next page is unmapped: a fault exactly when the permissions refuse the
    access, at the first byte they refuse (a store to a write-only page, which the host
    refuses, takes the exact check and lands)."""
    for width, reg in ((1, "al"), (2, "ax"), (4, "eax"), (8, "rax"), (16, "xmm0")):
        for offset in (0, PAGE_SIZE - width - 1, PAGE_SIZE - width, PAGE_SIZE - width + 1):
            emu = Emulator(engine="jit")
            try:
                emu.map(0x10000, PAGE_SIZE, "rx")
                emu.map(0x20000, PAGE_SIZE, perms)
                ptr = {1: "byte", 2: "word", 4: "dword", 8: "qword", 16: "xmmword"}[width]
                mov = "movdqu" if width == 16 else "mov"
                asm = f"{mov} {ptr} ptr [rbx], {reg}" if write else f"{mov} {reg}, {ptr} ptr [rbx]"
                code = assemble(asm, 0x10000)
                emu.mem.poke(0x10000, code)
                emu.reg_write("rbx", 0x20000 + offset)
                stop = emu.run(start=0x10000, until=0x10000 + len(code), max_insns=10)
                crosses = offset + width > PAGE_SIZE
                assert (stop.reason == "fault") == (faults or crosses), (perms, write, width, offset, stop)
                if stop.reason == "fault":
                    want = 0x20000 + offset if faults else 0x21000
                    assert stop.fault.addr == want
            finally:
                emu.mem.close()


@pytest.mark.parametrize("write", [False, True])
@pytest.mark.parametrize("alias", [1 << 39, 1 << 47, (1 << 64) - (1 << 39), (1 << 64) - PAGE_SIZE])
def test_an_address_far_past_the_space_faults(write, alias):
    """An address a large power of two away from a mapped page (past the space, non-canonical,
    wrapping past 2**64) faults instead of reaching host memory."""
    emu = Emulator(engine="jit")
    try:
        emu.map(0x10000, PAGE_SIZE, "rx")
        emu.map(0x20000, PAGE_SIZE, "rw")
        addr = (0x20000 + alias) & ((1 << 64) - 1)
        code = assemble("mov qword ptr [rbx], rax" if write else "mov rax, qword ptr [rbx]", 0x10000)
        emu.mem.poke(0x10000, code)
        emu.reg_write("rbx", addr)
        stop = emu.run(start=0x10000, until=0x10000 + len(code), max_insns=10)
        assert stop.reason == "fault", stop
    finally:
        emu.mem.close()


def test_guest_memory_that_is_gone_leaves_no_host_file_open():
    """Each GuestMemory keeps its bytes in a memory file; one dropped without close() (as
    most Emulators are) closes it when collected: a test session makes thousands."""
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        GuestMemory(SPACE).map(0, PAGE_SIZE, "rw")
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before
