"""The guest's memory map, as the kernel's VMA list: sorted, non-overlapping areas.

Each change here is applied to GuestMemory at once (page permissions, and
pages dropped to zero on unmap), so the two never disagree. Addresses the
process chooses come from `find_free`, top-down below `top`, so they never
overlap the stack or any other area.
"""
import bisect
from dataclasses import dataclass

from dbt.runtime.memory import PAGE_MASK, R

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4


def perms_of_prot(prot: int) -> int:
    """x86 page tables: a writable or executable page is also readable."""
    prot &= PROT_READ | PROT_WRITE | PROT_EXEC
    return prot | R if prot else 0


@dataclass
class Area:
    start: int
    end: int
    prot: int
    name: str = ""          # "[stack]", "[heap]", the file, or "" for anonymous


class AddressSpace:
    def __init__(self, mem, low: int, top: int):
        self.mem = mem
        self.low, self.top = low, top      # where find_free may place areas
        self.areas: list[Area] = []

    # -- queries ---------------------------------------------------------------
    def _index(self, addr: int) -> int:
        """Index of the first area whose end is above addr."""
        return bisect.bisect_right([a.end for a in self.areas], addr)

    def overlapping(self, start: int, end: int) -> list[Area]:
        out = []
        for area in self.areas[self._index(start):]:
            if area.start >= end:
                break
            out.append(area)
        return out

    def is_free(self, start: int, end: int) -> bool:
        return 0 <= start < end <= self.mem.size and not self.overlapping(start, end)

    def covered(self, start: int, end: int) -> bool:
        """Every byte of [start, end) lies in some area."""
        at = start
        for area in self.overlapping(start, end):
            if area.start > at:
                return False
            at = area.end
        return at >= end

    def mapped_bytes(self, start: int = 0, end: int | None = None) -> int:
        """How many bytes of [start, end) (default: everywhere) lie in areas."""
        end = self.mem.size if end is None else end
        return sum(min(a.end, end) - max(a.start, start) for a in self.overlapping(start, end))

    def area_at(self, addr: int) -> Area | None:
        found = self.overlapping(addr, addr + 1)
        return found[0] if found else None

    def find_free(self, length: int, top: int | None = None) -> int | None:
        """The highest page-aligned start of a free gap of `length` below `top`."""
        end = self.top if top is None else top
        for area in reversed(self.areas):
            if area.start >= end:
                continue
            if area.end <= end - length and end - length >= self.low:
                return end - length
            end = min(end, area.start)
        return end - length if end - length >= self.low else None

    # -- changes ---------------------------------------------------------------
    def _cut(self, start: int, end: int) -> None:
        """Remove [start, end) from the list, splitting areas at the edges."""
        keep = []
        for area in self.overlapping(start, end):
            self.areas.remove(area)
            if area.start < start:
                keep.append(Area(area.start, start, area.prot, area.name))
            if area.end > end:
                keep.append(Area(end, area.end, area.prot, area.name))
        for area in keep:
            self._insert(area)

    def _insert(self, area: Area) -> None:
        """Add an area, merged with neighbours that touch it and look the same (as the kernel's
        vma_merge: mprotect back and forth leaves one area, which mremap needs)."""
        areas = self.areas
        i = bisect.bisect_left([a.start for a in areas], area.start)
        if i < len(areas) and areas[i].start == area.end and (areas[i].prot, areas[i].name) == (area.prot, area.name):
            area = Area(area.start, areas.pop(i).end, area.prot, area.name)
        if i > 0 and areas[i - 1].end == area.start and (areas[i - 1].prot, areas[i - 1].name) == (area.prot, area.name):
            areas[i - 1] = Area(areas[i - 1].start, area.end, area.prot, area.name)
        else:
            areas.insert(i, area)

    def map(self, start: int, end: int, prot: int, name: str = "") -> None:
        """A new area (whatever was there is unmapped first); its pages read as zero."""
        self.unmap(start, end)
        self._insert(Area(start, end, prot, name))
        self.mem.map(start, end - start, perms_of_prot(prot))

    def unmap(self, start: int, end: int) -> None:
        if self.overlapping(start, end):
            self._cut(start, end)
            self.mem.unmap(start, end - start)

    def protect(self, start: int, end: int, prot: int) -> None:
        """Change permissions of a covered range (the caller checked `covered`)."""
        names = [(max(a.start, start), min(a.end, end), a.name) for a in self.overlapping(start, end)]
        self._cut(start, end)
        for s, e, name in names:
            self._insert(Area(s, e, prot, name))
            self.mem.protect(s, e - s, perms_of_prot(prot))

    def zero(self, start: int, end: int) -> None:
        """Drop the contents of mapped pages in [start, end) (MADV_DONTNEED on anonymous memory)."""
        for area in self.overlapping(start, end):
            s, e = max(area.start, start), min(area.end, end)
            self.mem.unmap(s, e - s)
            self.mem.map(s, e - s, perms_of_prot(area.prot))


def page_up(value: int) -> int:
    return (value + PAGE_MASK) & ~PAGE_MASK

