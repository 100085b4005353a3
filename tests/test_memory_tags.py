"""The tag tables native code checks accesses with (dbt/runtime/memory.py) always say what
the permission table says: after every kind of change, each page's read and write tag is
derived from its permissions by the rule, and the entry past the space matches no page."""
import ctypes
import random

import pytest

from dbt.api import Emulator
from oracle.native import assemble
from dbt.runtime.memory import (CODE, NO_TAG, PAGE_SIZE, READ_TAGS, TAG_ENTRIES, WATCH_R, WATCH_W, WRITE_TAGS,
                                GuestMemory, R, W)

SPACE = 1 << 28              # 64K pages: small enough to compare every page's tags
PAGES = SPACE // PAGE_SIZE


def tags(mem: GuestMemory, table: int) -> list[int]:
    """A table's entries for the space's pages and the one after them."""
    return list((ctypes.c_uint64 * (mem.npages + 1)).from_address(mem.base + table))


def expected(mem: GuestMemory) -> tuple[list[int], list[int]]:
    """The rule, page by page: index + 1 when native code may access it inline, else 0."""
    perms = bytes(mem.perms)
    read = [p + 1 if v & (R | WATCH_R) == R else 0 for p, v in enumerate(perms[:-1])] + [0]
    write = [p + 1 if v & (R | W | WATCH_R | WATCH_W | CODE) == R | W else 0
             for p, v in enumerate(perms[:-1])] + [0]
    return read, write


def assert_tags_follow_perms(mem: GuestMemory) -> None:
    read, write = expected(mem)
    assert tags(mem, READ_TAGS) == read
    assert tags(mem, WRITE_TAGS) == write
    for table in (READ_TAGS, WRITE_TAGS):          # the entry an address wrapping past 2**64 reads
        assert ctypes.c_uint64.from_address(mem.base + table + 8 * (TAG_ENTRIES - 1)).value == NO_TAG


def test_tags_follow_every_kind_of_permission_change():
    mem = GuestMemory(SPACE)
    try:
        assert_tags_follow_perms(mem)
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
            assert_tags_follow_perms(mem)
    finally:
        mem.close()


def test_no_access_range_gives_its_tag_pages_back():
    """Zeroing a big range's tags does not commit host memory for them (MADV_DONTNEED)."""
    mem = GuestMemory(SPACE)
    try:
        mem.map(0, SPACE, "rw")
        mem.unmap(0, SPACE)
        assert_tags_follow_perms(mem)
    finally:
        mem.close()


def test_guest_memory_larger_than_the_tag_tables_allow_is_refused():
    with pytest.raises(ValueError, match="at most"):
        GuestMemory(1 << 40)


@pytest.mark.parametrize("perms, write, faults", [("r", False, False), ("r", True, True), ("w", True, False),
                                                  ("rw", True, False), ("x", False, True)])
def test_native_code_obeys_the_tags_at_every_width(perms, write, faults):
    """Loads and stores of 1-8 bytes at page offsets around the end of a page whose permissions
    vary and whose next page is unmapped: a fault exactly when the permissions refuse the
    access, at the first byte they refuse (a store to a write-only page, which has no write
    tag, takes the exact check and lands)."""
    for width, reg in ((1, "al"), (2, "ax"), (4, "eax"), (8, "rax")):
        for offset in (0, PAGE_SIZE - width - 1, PAGE_SIZE - width, PAGE_SIZE - width + 1):
            emu = Emulator(engine="jit")
            try:
                emu.map(0x10000, PAGE_SIZE, "rx")
                emu.map(0x20000, PAGE_SIZE, perms)
                ptr = {1: "byte", 2: "word", 4: "dword", 8: "qword"}[width]
                asm = f"mov {ptr} ptr [rbx], {reg}" if write else f"mov {reg}, {ptr} ptr [rbx]"
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
def test_an_address_whose_page_index_aliases_a_mapped_page_faults(write, alias):
    """The tag index is the page number mod TAG_ENTRIES: an address a multiple of the table
    away from a mapped page reads that page's tag, which holds the full page number, so the
    access faults (at the address) instead of reaching host memory."""
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
