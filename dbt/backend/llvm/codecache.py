"""The persistent code cache: compiled blocks kept on disk, found again by the guest bytes they came from.

A block's key digests the cache fingerprint (dbt's own source, LLVM and the
host, the options that change code), its pc and its guest bytes. The blocks
translated from one guest page live together in one bundle file named by a
digest of that page's bytes, so a warm run finds a block by hashing the page
its pc is on (no decoding, no lifting, no LLVM) and then checks the block's
own key against guest memory before loading its object code. A hot region's
code is keyed by a digest of its member blocks' keys (head first) and kept in
a second bundle of its head's page, found at the HOT exit once the members are
chosen (their keys are computed from guest memory then).
Blocks compiled together (a batch of a page's blocks, one LLVM module) share
one object: each of their entries names the group, whose object the file
holds once.
Files are written whole to a temporary file and renamed into place, merged
with what another run wrote meanwhile. A file whose header or checksum does
not match is ignored (and rewritten by the next save); nothing read from
disk runs unless its checksum and its key match. A new fingerprint's first
save removes the directories of other fingerprints left unwritten for days.
"""
import functools
import os
import struct
import time
from _blake2 import blake2b        # hashlib's own: importing hashlib loads OpenSSL too (~2.5 ms a run)
from dataclasses import dataclass

from dbt.runtime.memory import PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, X, GuestFault

MAGIC = b"DBTCODE3"
HEADER = struct.Struct("<8s16sQ16s")      # magic, fingerprint, payload length, payload digest
# key, pc, size, ninsns, number of targets, object length, group, returns_to, callee, CALL_FLAGS
ENTRY = struct.Struct("<16sQIIII16sQQB")
HAS_RETURN_SITE, HAS_CALLEE, IS_RET, IS_INDIRECT = 1, 2, 4, 8
NO_GROUP = bytes(16)
TARGET = struct.Struct("<Q")
SUFFIX = ".tbs"
STALE_DAYS = 2        # a cache of another fingerprint unwritten this long is removed


def digest(*parts: bytes) -> bytes:
    h = blake2b(digest_size=16)
    for part in parts:
        h.update(part)
    return h.digest()


@functools.lru_cache(maxsize=None)
def source_digest() -> bytes:
    """Digest of dbt's own Python source files' names, sizes and modification times (ns): any
    change to dbt makes a new, empty cache. Reading and hashing their contents instead took
    3.2 ms of every run; a file cannot change without its size or mtime changing."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
    stamps = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [d for d in subdirectories if d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                stat = os.stat(path)
                stamps.append(f"{path[len(root):]}:{stat.st_size}:{stat.st_mtime_ns}")
    return digest("\0".join(sorted(stamps)).encode())


def compiler_identity() -> str:
    """What the machine code of the cache depends on besides dbt's source: llvmlite and the LLVM
    it carries, and the host architecture (jit.py emits generic x86-64 code, so the CPU model
    does not matter). Read from files: a warm run does not load LLVM (~35 ms)."""
    import llvmlite         # its package only (~0.5 ms), not the binding
    binding = os.path.join(os.path.dirname(llvmlite.__file__), "binding")
    stamps = [f"{name}:{os.stat(os.path.join(binding, name)).st_size}"
              for name in sorted(os.listdir(binding)) if name.startswith("libllvmlite")]
    return f"llvmlite={llvmlite.__version__} {' '.join(stamps)} arch={os.uname().machine} code=generic,large"


def default_directory() -> str:
    """$XDG_CACHE_HOME/dbt, else ~/.cache/dbt."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "dbt")


def environment_setting() -> str:
    """DBT_CACHE: 'on', 'off' or '' (unset); anything else is a ValueError."""
    setting = os.environ.get("DBT_CACHE", "")
    if setting not in ("", "on", "off"):
        raise ValueError(f"DBT_CACHE must be 'on' or 'off', not {setting!r}")
    return setting


def command_line_choice(no_cache: bool, cache_dir: str | None) -> str | bool:
    """What `dbt run` asks for: the cache is on unless --no-cache, in --cache-dir or the default."""
    return False if no_cache else (cache_dir or default_directory())


def choose_directory(code_cache) -> str | None:
    """The directory a run caches code in, or None for no cache.

    code_cache: a directory, False (off), or None (the environment decides).
    DBT_CACHE=off turns the cache off everywhere; DBT_CACHE=on turns it on
    (in the default directory) where the caller left the choice open.
    """
    setting = environment_setting()
    if code_cache is False or setting == "off":
        return None
    if code_cache is None:
        return default_directory() if setting == "on" else None
    return str(code_cache)


@dataclass(slots=True)
class CachedBlock:
    key: bytes                  # digest(fingerprint, pc, guest bytes)
    pc: int
    size: int                   # guest bytes covered
    ninsns: int
    targets: tuple[int, ...]    # pcs of the direct exits, in slot order (= IR order)
    obj: bytes                  # relocatable object code (its group's, shared)
    group: bytes = b""          # the id of the blocks compiled with it in one object (b"": alone)
    returns_to: int | None = None   # a call's return site (the region walk's Exits)
    callee: int | None = None       # a direct call's target
    ret: bool = False               # a ret
    indirect: bool = False          # an indirect jump or call (not a ret)

    def encode(self, with_object: bool) -> bytes:
        obj = self.obj if with_object else b""
        flags = ((self.returns_to is not None) * HAS_RETURN_SITE | (self.callee is not None) * HAS_CALLEE
                 | self.ret * IS_RET | self.indirect * IS_INDIRECT)
        return b"".join((ENTRY.pack(self.key, self.pc, self.size, self.ninsns, len(self.targets), len(obj),
                                    self.group or NO_GROUP, self.returns_to or 0, self.callee or 0, flags),
                         *(TARGET.pack(t) for t in self.targets), obj))


def encode_bundle(fingerprint: bytes, blocks) -> bytes:
    """A bundle file of blocks; a group's object is written with its first block only."""
    written, parts = set(), []
    for block in blocks:
        parts.append(block.encode(with_object=not block.group or block.group not in written))
        written.add(block.group)
    payload = b"".join(parts)
    return HEADER.pack(MAGIC, fingerprint, len(payload), digest(payload)) + payload


def decode_bundle(fingerprint: bytes, data: bytes) -> list[CachedBlock]:
    """The blocks of a bundle file; [] for one that is truncated, corrupt or of another fingerprint."""
    if len(data) < HEADER.size:
        return []
    magic, owner, length, check = HEADER.unpack_from(data)
    payload = data[HEADER.size:]
    if magic != MAGIC or owner != fingerprint or length != len(payload) or digest(payload) != check:
        return []
    blocks, objects, at = [], {}, 0
    try:
        while at < len(payload):
            key, pc, size, ninsns, ntargets, objlen, group, returns_to, callee, flags = ENTRY.unpack_from(payload, at)
            at += ENTRY.size
            targets = struct.unpack_from(f"<{ntargets}Q", payload, at)
            at += TARGET.size * ntargets
            obj = payload[at:at + objlen]
            at += objlen
            if len(obj) != objlen:
                return []
            group = b"" if group == NO_GROUP else group
            if group:
                obj = objects.setdefault(group, obj)
            if not obj:         # a group's first entry must carry its object
                return []
            blocks.append(CachedBlock(key, pc, size, ninsns, targets, obj, group,
                                      returns_to if flags & HAS_RETURN_SITE else None,
                                      callee if flags & HAS_CALLEE else None, bool(flags & IS_RET),
                                      bool(flags & IS_INDIRECT)))
    except struct.error:
        return []
    return blocks


def prune(root: str, keep: str) -> None:
    """Remove the caches of other fingerprints (older dbt versions) untouched for STALE_DAYS."""
    import shutil           # here: a run the cache serves entirely never prunes (shutil, tempfile: ~3 ms)
    limit = time.time() - STALE_DAYS * 86400
    for entry in os.scandir(root):
        if (entry.name != keep and len(entry.name) == 32 and all(c in "0123456789abcdef" for c in entry.name)
                and entry.is_dir() and entry.stat().st_mtime < limit):
            shutil.rmtree(entry.path, ignore_errors=True)


class CodeCache:
    """Bundles of one fingerprint under directory/<fingerprint>/, read lazily, saved by `save`."""

    def __init__(self, directory: str, config: str, host: str):
        self.fingerprint = digest(source_digest(), host.encode(), b"\0", config.encode())
        self.directory = os.path.join(directory, self.fingerprint.hex())
        self.bundles: dict[bytes, dict[int, list[CachedBlock]]] = {}    # page digest -> pc -> blocks
        self.dirty: set[bytes] = set()
        self.volatile: set[int] = set()     # guest pages whose code was overwritten: not cached

    def block_key(self, pc: int, data: bytes) -> bytes:
        return digest(self.fingerprint, pc.to_bytes(8, "little"), data)

    def page_digest(self, page: int, data: bytes) -> bytes:
        return digest(self.fingerprint, page.to_bytes(8, "little"), data)

    def region_key(self, member_keys) -> bytes:
        return digest(self.fingerprint, b"region", *member_keys)

    @staticmethod
    def region_bundle(page_digest: bytes) -> bytes:
        """The name of the bundle that holds the regions headed on a page (its blocks' is page_digest)."""
        return digest(page_digest, b"regions")

    def page_of(self, mem, pc: int) -> bytes | None:
        """The digest of pc's page, or None on a volatile page (code generated or patched at
        run time: caching each version of it would only fill the disk)."""
        if pc >> PAGE_SHIFT in self.volatile:
            return None
        page = pc & ~PAGE_MASK
        return self.page_digest(page, mem.peek(page, PAGE_SIZE))

    def _path(self, page_digest: bytes) -> str:
        return os.path.join(self.directory, page_digest.hex() + SUFFIX)

    def _read(self, page_digest: bytes) -> list[CachedBlock]:
        try:
            with open(self._path(page_digest), "rb") as f:
                data = f.read()
        except OSError:
            return []
        return decode_bundle(self.fingerprint, data)

    def bundle(self, page_digest: bytes) -> dict[int, list[CachedBlock]]:
        found = self.bundles.get(page_digest)
        if found is None:
            found = self.bundles[page_digest] = {}
            for block in self._read(page_digest):
                found.setdefault(block.pc, []).append(block)
        return found

    def find(self, mem, pc: int, stops) -> tuple[bytes | None, CachedBlock | None]:
        """(digest of pc's page, the cached block for pc that guest memory still holds, or None).

        The digest is None on a volatile page (`page_of`). Raises GuestFault when pc is
        not executable, as translating it would.
        """
        if pc >> PAGE_SHIFT in self.volatile:
            return None, None
        mem.check(pc, 1, X)
        page_digest = self.page_of(mem, pc)
        return page_digest, self._held(mem, self.bundle(page_digest).get(pc, ()), stops)

    def held(self, mem, page_digest: bytes, stops, wanted) -> list[CachedBlock]:
        """The cached blocks of a page (of that digest, which `find` just computed from guest
        memory) that guest memory still holds, one for each pc that wanted(pc) and no stop
        point enters: what `find` gives for each of them."""
        found = (self._held(mem, blocks, stops) for pc, blocks in self.bundle(page_digest).items()
                 if wanted(pc) and not stops.enters(pc))
        return [block for block in found if block is not None]

    def _held(self, mem, blocks, stops) -> CachedBlock | None:
        """The first of a pc's cached blocks (of a bundle whose page digest was just computed
        from guest memory, its page executable) whose bytes guest memory holds. A block within
        that page has the bytes it was compiled from, so its key needs no hashing again (3 us
        a block, ~950 blocks a start-up); one that ends on the next page is checked whole."""
        for block in blocks:
            if stops.within(block.pc, block.pc + block.size):      # it would end there
                continue
            if (block.pc + block.size - 1) >> PAGE_SHIFT == block.pc >> PAGE_SHIFT:
                return block
            try:
                data = mem.read(block.pc, block.size, X)
            except GuestFault:
                continue
            if self.block_key(block.pc, data) == block.key:
                return block
        return None

    def runtime_name(self) -> bytes:
        """The name of the bundle that holds the runtime helpers' object code (jit.py)."""
        return digest(self.fingerprint, b"runtime helpers")

    def runtime_object(self) -> bytes | None:
        """The runtime helpers' object code a run kept, or None."""
        return self.kept(self.runtime_name())

    def keep_runtime_object(self, obj: bytes) -> None:
        """Keep the runtime helpers' object code, for `save` to write."""
        self.keep(self.runtime_name(), obj)

    def elf_headers_name(self, headers: bytes) -> bytes:
        """The name of the bundle that holds the parse of these ELF and program headers."""
        return digest(self.fingerprint, b"elf headers", headers)

    def kept_elf_headers(self, headers: bytes) -> bytes | None:
        """What a run kept of the parse of these ELF and program headers (elf_image.read_elf), or None."""
        return self.kept(self.elf_headers_name(headers))

    def keep_elf_headers(self, headers: bytes, parsed: bytes) -> None:
        self.keep(self.elf_headers_name(headers), parsed)

    def kept(self, name: bytes) -> bytes | None:
        """The bytes kept in the bundle of that name (one of its own, not a page's), or None."""
        kept = self.bundle(name).get(0)
        return kept[0].obj if kept else None

    def keep(self, name: bytes, payload: bytes) -> None:
        """Keep bytes in a bundle of their own, for `save` to write."""
        self.bundle(name)[0] = [CachedBlock(name, 0, 0, 0, (), payload)]
        self.dirty.add(name)

    def find_region(self, page_digest: bytes, pc: int, key: bytes) -> CachedBlock | None:
        """The cached region headed at pc (on the page of that digest) with that key, or None."""
        for region in self.bundle(self.region_bundle(page_digest)).get(pc, ()):
            if region.key == key:
                return region
        return None

    def add(self, page_digest: bytes, key: bytes, block, code, exits=None) -> None:
        """Keep a freshly compiled block (IR `block`, NativeBlock `code`, its regions.Exits
        `exits`) under its page's bundle; a region (`block` its head's TB) under
        region_bundle(page_digest)."""
        blocks = self.bundle(page_digest).setdefault(block.pc, [])
        if all(b.key != key for b in blocks):
            targets = tuple(target for _, target in code.exits)
            call = (exits.returns_to, exits.callee, exits.ret, exits.indirect) if exits is not None else ()
            blocks.append(CachedBlock(key, block.pc, block.size, block.ninsns, targets, code.obj, code.group, *call))
            self.dirty.add(page_digest)

    def save(self) -> None:
        """Write the bundles that gained blocks, merged with their files' current contents.

        A cache that cannot be written (read-only, full disk) is skipped silently: it only
        costs the next run the compile time.
        """
        try:
            if not os.path.isdir(self.directory):
                os.makedirs(self.directory)
                prune(os.path.dirname(self.directory), keep=os.path.basename(self.directory))
            for page_digest in sorted(self.dirty):
                self._write(page_digest)
        except OSError:
            return
        self.dirty.clear()

    def _write(self, page_digest: bytes) -> None:
        merged = {block.key: block for block in self._read(page_digest)}
        for blocks in self.bundles[page_digest].values():
            merged.update((block.key, block) for block in blocks)
        import tempfile         # here, as shutil in prune
        fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=SUFFIX)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(encode_bundle(self.fingerprint, merged.values()))
            os.replace(temp, self._path(page_digest))
        except BaseException:
            os.unlink(temp)
            raise
