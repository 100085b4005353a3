"""The guest's memory map, as the kernel's VMA list: sorted, non-overlapping areas.

Each change here is applied to GuestMemory at once (page permissions, and
pages dropped to zero on unmap), so the two never disagree. Addresses the
process chooses come from `find_free`, top-down below `top`, so they never
overlap the stack or any other area. A MAP_SHARED file mapping's pages are
the host file's own (GuestMemory.map_file); its pages past the file's end
have no access (Linux sends SIGBUS there, the guest gets SIGSEGV), checked
at each change of the area and after the guest truncates a file. Another
host process that shrinks a file the guest maps shared can still make a
guest access raise SIGBUS in dbt itself.
"""
import bisect
import os
from dataclasses import dataclass

from dbt.runtime.memory import PAGE_MASK, R

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4


def perms_of_prot(prot: int) -> int:
    """x86 page tables: a writable or executable page is also readable."""
    prot &= PROT_READ | PROT_WRITE | PROT_EXEC
    return prot | R if prot else 0


@dataclass(frozen=True)
class SharedFile:
    """What backs a MAP_SHARED file area: a host fd of the file (owned by the AddressSpace,
    closed with the last area that uses it) and the file offset of the area's start."""
    fd: int
    offset: int
    writable: bool          # the file is open for writing: its pages may be mapped writable
    key: tuple[int, int]    # (st_dev, st_ino): areas of the same file may merge

    @classmethod
    def of(cls, fd: int, offset: int, writable: bool) -> "SharedFile":
        """Back by a duplicate of fd (the guest may close its own)."""
        st = os.fstat(fd)
        return cls(os.dup(fd), offset, writable, (st.st_dev, st.st_ino))

    def at(self, delta: int) -> "SharedFile":
        return SharedFile(self.fd, self.offset + delta, self.writable, self.key)


@dataclass
class Area:
    start: int
    end: int
    prot: int
    name: str = ""          # "[stack]", "[heap]", the file, or "" for anonymous
    shared: SharedFile | None = None

    def piece(self, start: int, end: int, prot: int | None = None) -> "Area":
        """The part [start, end) of this area (with another prot if given)."""
        shared = self.shared.at(start - self.start) if self.shared else None
        return Area(start, end, self.prot if prot is None else prot, self.name, shared)

    def joins(self, right: "Area") -> bool:
        """right starts where this ends and continues it (vma_merge's test)."""
        if self.end != right.start or (self.prot, self.name) != (right.prot, right.name):
            return False
        if self.shared is None or right.shared is None:
            return self.shared is right.shared
        return (self.shared.key == right.shared.key
                and right.shared.offset == self.shared.offset + self.end - self.start)


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
                keep.append(area.piece(area.start, start))
            if area.end > end:
                keep.append(area.piece(end, area.end))
        for area in keep:
            self._insert(area)

    def _insert(self, area: Area) -> None:
        """Add an area, merged with neighbours that touch it and look the same (as the kernel's
        vma_merge: mprotect back and forth leaves one area, which mremap needs)."""
        areas = self.areas
        dropped = []        # backings of merged-away parts, released once the list is whole
        i = bisect.bisect_left([a.start for a in areas], area.start)
        if i < len(areas) and area.joins(areas[i]):
            right = areas.pop(i)
            dropped.append(right.shared)
            area = Area(area.start, right.end, area.prot, area.name, area.shared)
        if i > 0 and areas[i - 1].joins(area):
            dropped.append(area.shared)
            areas[i - 1] = Area(areas[i - 1].start, area.end, area.prot, area.name, areas[i - 1].shared)
        else:
            areas.insert(i, area)
        for shared in dropped:
            self._release(shared)

    def _release(self, shared: SharedFile | None) -> None:
        """Close a shared file's fd once no area uses it."""
        if shared is not None and not any(a.shared is not None and a.shared.fd == shared.fd for a in self.areas):
            os.close(shared.fd)

    @staticmethod
    def _accessible_end(area: Area) -> int:
        """Where the area's accessible pages end: a shared file's end (page-rounded) or its end."""
        if area.shared is None:
            return area.end
        size = os.fstat(area.shared.fd).st_size
        return min(area.end, max(area.start, area.start + page_up(size - area.shared.offset)))

    def _insert_with_perms(self, area: Area) -> None:
        """Insert the area and set its pages' permissions; the file's size is read before a
        merge may close this area's fd."""
        limit = self._accessible_end(area)
        self._insert(area)
        self._set_perms(area, limit)

    def _set_perms(self, area: Area, limit: int) -> None:
        """The area's permissions up to limit, none past it (a shared file's end)."""
        self.mem.protect(area.start, limit - area.start, perms_of_prot(area.prot))
        if limit < area.end:
            self.mem.protect(limit, area.end - limit, 0)

    def refresh_shared(self) -> None:
        """A file changed size (the guest truncated it): its shared pages past the new end lose
        access, as the host would raise SIGBUS there; pages a growth brought back get it."""
        for area in self.areas:
            if area.shared is not None:
                self._set_perms(area, self._accessible_end(area))

    def map(self, start: int, end: int, prot: int, name: str = "", shared: SharedFile | None = None) -> None:
        """A new area (whatever was there is unmapped first); its pages read as zero, or are
        the shared file's (the area takes over shared.fd)."""
        self.unmap(start, end)
        area = Area(start, end, prot, name, shared)
        if shared is not None:
            try:
                self.mem.map_file(start, end - start, shared.fd, shared.offset, shared.writable)
            except OSError:
                os.close(shared.fd)
                raise
        self._insert_with_perms(area)

    def unmap(self, start: int, end: int) -> None:
        gone = self.overlapping(start, end)
        if gone:
            self._cut(start, end)
            self.mem.unmap(start, end - start)
            for area in gone:
                self._release(area.shared)

    def protect(self, start: int, end: int, prot: int) -> None:
        """Change permissions of a covered range (the caller checked `covered`)."""
        pieces = [a.piece(max(a.start, start), min(a.end, end), prot) for a in self.overlapping(start, end)]
        self._cut(start, end)
        for piece in pieces:
            self._insert_with_perms(piece)

    def zero(self, start: int, end: int) -> None:
        """Drop the contents of mapped pages in [start, end) (MADV_DONTNEED: anonymous memory
        reads as zero again; a shared file's pages are the file's anyway)."""
        for area in self.overlapping(start, end):
            if area.shared is None:
                s, e = max(area.start, start), min(area.end, end)
                self.mem.unmap(s, e - s)
                self.mem.map(s, e - s, perms_of_prot(area.prot))

    def maps_text(self) -> bytes:
        """/proc/self/maps: one line per area as Linux prints it (a shared file's device,
        inode and offset; zeros for the rest, which dbt keeps as copies)."""
        lines = []
        for a in self.areas:
            perms = "".join(c if a.prot & bit else "-" for c, bit in
                            (("r", PROT_READ), ("w", PROT_WRITE), ("x", PROT_EXEC)))
            offset, dev, ino = 0, 0, 0
            if a.shared is not None:
                offset, (dev, ino) = a.shared.offset, a.shared.key
            head = (f"{a.start:08x}-{a.end:08x} {perms}{'s' if a.shared else 'p'} {offset:08x} "
                    f"{os.major(dev):02x}:{os.minor(dev):02x} {ino} ")
            lines.append((head.ljust(73) + a.name if a.name else head) + "\n")
        return "".join(lines).encode()

    def close(self) -> None:
        """Close the fds of shared file areas (the guest's end)."""
        for fd in {a.shared.fd for a in self.areas if a.shared is not None}:
            os.close(fd)


def page_up(value: int) -> int:
    return (value + PAGE_MASK) & ~PAGE_MASK

