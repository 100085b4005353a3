"""The persistent code cache: a warm run reuses the code of a cold one and behaves exactly as
the native program does; corrupt, truncated or concurrently written cache files are ignored
(and rewritten), never run; --no-cache and DBT_CACHE=off write nothing.

Expected output is always the native run's. Cache activity is read from --stats.
"""
import ast
import os
import random
import subprocess
import time
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "guest"))
sys.path.insert(0, str(HERE / "guest_libc"))
import guestbuild  # noqa: E402
import libcbuild  # noqa: E402

from dbt.api import Emulator  # noqa: E402
from dbt.runtime.elf_image import check_header, read_elf  # noqa: E402

REPO = HERE.parent
ARGS = {"selfmod": ("10",)}         # rounds of code generation (default 200)


@pytest.fixture(scope="module")
def progs(tmp_path_factory):
    """Guest programs: freestanding C (calls), musl's hello and glibc's self-modifying selfmod.
    The first two take the same path in every run (glibc's start-up does not: AT_RANDOM)."""
    outdir = tmp_path_factory.mktemp("cached")
    built = {"calls": guestbuild.build(guestbuild.sources()["calls"], outdir)}
    try:
        built["hello"] = libcbuild.build("hello", "musl", outdir)
        built["selfmod"] = libcbuild.build("selfmod", "glibc", outdir)
    except libcbuild.BuildError as e:
        pytest.skip(str(e))
    return built


def environment(**changes):
    env = {k: v for k, v in os.environ.items() if k not in ("DBT_CACHE", "XDG_CACHE_HOME")}
    env.update(changes)
    return env


def dbt(prog, *options, args=(), env=None):
    cmd = [sys.executable, "-m", "dbt", "run", "--stats", *options, str(prog), *args]
    return subprocess.run(cmd, capture_output=True, timeout=600, cwd=REPO, env=env or environment())


def native(prog, args=()):
    return subprocess.run([str(prog), *args], capture_output=True, timeout=600)


def same_as_native(run, expected):
    assert "Traceback" not in run.stderr.decode(errors="replace"), run.stderr.decode(errors="replace")
    assert (run.stdout, guestbuild.status(run.returncode)) == (expected.stdout, guestbuild.status(expected.returncode))


def cache_files(directory: Path):
    return sorted(p for p in directory.rglob("*") if p.is_file())


@pytest.mark.parametrize("name", ["calls", "hello", "selfmod"])
def test_warm_run_loads_every_block_and_matches_native(progs, tmp_path, name):
    args = ARGS.get(name, ())
    expected = native(progs[name], args)
    uncached = dbt(progs[name], "--no-cache", args=args)
    cold = dbt(progs[name], "--cache-dir", str(tmp_path), args=args)
    warm = dbt(progs[name], "--cache-dir", str(tmp_path), args=args)
    for run in (uncached, cold, warm):
        same_as_native(run, expected)
    off, first, second = (guestbuild.parse_stats(r.stderr) for r in (uncached, cold, warm))
    assert off["code_cache_hits"] == off["code_cache_misses"] == 0
    assert first["code_cache_hits"] == 0 and first["code_cache_misses"] > 0
    if name == "selfmod":        # generated code is translated again every time, never reloaded stale
        assert second["code_cache_hits"] > 0 and second["blocks_translated"] > 0
        return
    assert second["code_cache_misses"] == 0 and second["code_cache_hits"] == first["code_cache_misses"]
    assert second["blocks_translated"] == 0
    assert off["insns_retired"] == first["insns_retired"] == second["insns_retired"]


COMPILE_ONLY_MODULES = {"llvmlite.binding", "dbt.backend.llvm.jit", "dbt.backend.llvm.lower",
                        "dbt.backend.llvm.region", "dbt.backend.llvm.runtime_helpers", "dbt.backend.softfloat",
                        "fractions", "hashlib", "tempfile", "dbt.bench.command", "dbt.bench.suite",
                        "elftools.elf.structs", "pdb", "typing", "pathlib"}


def test_a_run_the_cache_serves_imports_no_compiler(progs, tmp_path):
    """A warm run loads object code and compiles nothing: it imports neither LLVM nor the
    lowering modules, nor what only a float op's interpretation, a cache write, `dbt bench`
    or parsing an ELF file the cache has not seen needs (each was milliseconds of every start)."""
    expected = native(progs["hello"])
    options = ("--cache-dir", str(tmp_path), "--regions", "on")   # as `dbt run` makes them (always: new ones)
    dbt(progs["hello"], *options)
    warm = subprocess.run([sys.executable, "-X", "importtime", "-m", "dbt", "run", "--stats", *options,
                           str(progs["hello"])], capture_output=True, timeout=600, cwd=REPO, env=environment())
    assert (warm.stdout, warm.returncode) == (expected.stdout, expected.returncode)
    stats = guestbuild.parse_stats(warm.stderr)
    assert stats["code_cache_misses"] == 0 < stats["code_cache_hits"]
    imported = imported_modules(warm.stderr)
    assert {"dbt.runtime.tb", "dbt.backend.llvm.native", "dbt.backend.llvm.linker"} <= imported
    # What the interpreter imports before dbt starts (site's .pth files: some machines' import
    # certifi, which imports tempfile) is not dbt's doing.
    bare = subprocess.run([sys.executable, "-X", "importtime", "-c", "pass"], capture_output=True,
                          timeout=600, cwd=REPO, env=environment())
    by_dbt = imported - imported_modules(bare.stderr)
    assert not by_dbt & COMPILE_ONLY_MODULES, sorted(by_dbt & COMPILE_ONLY_MODULES)


def test_the_parse_of_elf_headers_is_kept_for_the_same_headers_only(progs):
    """read_elf keeps what pyelftools parsed in its memo (the code cache), keyed by the header
    bytes, and the next read of those headers takes it from there; a kept parse not of the
    shape read_elf keeps is parsed again, and the image is the same."""
    class Memo(dict):
        def kept_elf_headers(self, headers):
            return self.get(headers)

        def keep_elf_headers(self, headers, parsed):
            self[headers] = parsed
    path = str(progs["hello"])
    reference = read_elf(path, ValueError)
    memo = Memo()
    assert read_elf(path, ValueError, memo) == reference
    (headers, kept), = memo.items()
    assert headers == check_header(path, open(path, "rb").read(), ValueError)
    fields = ast.literal_eval(kept.decode())
    memo[headers] = repr(fields[:2] + (fields[2] + 1,) + fields[3:]).encode()     # another entry point
    assert read_elf(path, ValueError, memo).entry == reference.entry + 1      # taken from the memo
    for damaged in (b"(", b"()", b"'EM_X86_64'", repr(fields[:6] + ("segments",)).encode(), b"\xff",
                    repr(fields[:6] + ([("PT_LOAD", "flags", 0, 0, 0, 0, 0)],)).encode()):
        memo[headers] = damaged
        assert read_elf(path, ValueError, memo) == reference
        assert memo[headers] == kept                  # parsed again, and kept again


def imported_modules(importtime_log: bytes) -> set[str]:
    """The modules named in the log `python -X importtime` writes to stderr."""
    return {line.rsplit("|", 1)[1].strip() for line in importtime_log.decode().splitlines()
            if line.startswith("import time:")}


def corrupt(path: Path, how: str, rng: random.Random) -> None:
    data = bytearray(path.read_bytes())
    if how == "flip":
        for _ in range(8):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif how == "truncate":
        del data[rng.randrange(len(data)):]
    elif how == "garbage":
        data = bytearray(rng.randbytes(len(data)))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["flip", "truncate", "garbage"])
def test_corrupt_cache_files_are_ignored_and_rewritten(progs, tmp_path, how):
    prog, expected = progs["hello"], native(progs["hello"])
    same_as_native(dbt(prog, "--cache-dir", str(tmp_path)), expected)
    files = cache_files(tmp_path)
    rng = random.Random(how)
    for path in files:
        corrupt(path, how, rng)
    damaged = dbt(prog, "--cache-dir", str(tmp_path))
    same_as_native(damaged, expected)
    assert guestbuild.parse_stats(damaged.stderr)["code_cache_misses"] > 0
    repaired = dbt(prog, "--cache-dir", str(tmp_path))
    same_as_native(repaired, expected)
    assert guestbuild.parse_stats(repaired.stderr)["code_cache_misses"] == 0


def test_concurrent_runs_share_one_cache_directory(progs, tmp_path):
    prog, expected = progs["hello"], native(progs["hello"])
    cmd = [sys.executable, "-m", "dbt", "run", "--stats", "--cache-dir", str(tmp_path), str(prog)]
    runs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=environment())
            for _ in range(4)]
    for proc in runs:
        out, err = proc.communicate(timeout=600)
        same_as_native(subprocess.CompletedProcess(cmd, proc.returncode, out, err), expected)
    assert not [p for p in cache_files(tmp_path) if p.name.startswith(".tmp")]
    warm = dbt(prog, "--cache-dir", str(tmp_path))
    same_as_native(warm, expected)
    assert guestbuild.parse_stats(warm.stderr)["code_cache_misses"] == 0


def test_no_cache_and_dbt_cache_off_write_nothing(progs, tmp_path):
    prog, expected = progs["calls"], native(progs["calls"])
    same_as_native(dbt(prog, "--no-cache", "--cache-dir", str(tmp_path / "a")), expected)
    same_as_native(dbt(prog, "--cache-dir", str(tmp_path / "b"), env=environment(DBT_CACHE="off")), expected)
    same_as_native(dbt(prog, env=environment(XDG_CACHE_HOME=str(tmp_path / "c"), DBT_CACHE="off")), expected)
    assert not cache_files(tmp_path)
    same_as_native(dbt(prog, env=environment(XDG_CACHE_HOME=str(tmp_path / "d"))), expected)
    assert cache_files(tmp_path / "d" / "dbt")      # the default place, when on


def test_bad_dbt_cache_setting_is_one_line_and_status_2(progs):
    run = dbt(progs["calls"], env=environment(DBT_CACHE="sometimes"))
    err = run.stderr.decode()
    assert run.returncode == 2 and len(err.splitlines()) == 1 and "DBT_CACHE" in err, err


def straddling_mov(imm: int) -> bytes:
    """mov rax, imm64 (10 bytes) then hlt, to be placed across a page boundary."""
    return b"\x48\xb8" + imm.to_bytes(8, "little") + b"\xf4"


def test_block_whose_bytes_changed_on_the_next_page_is_not_reused(tmp_path, monkeypatch):
    """The page a block starts on is the same in each run; only the tail of its instruction,
    on the next page, differs. Code cached for other bytes must not run; for the same, it does."""
    monkeypatch.delenv("DBT_CACHE", raising=False)
    base, start = 0x40000, 0x40000 + 0x1000 - 4     # 4 bytes on the first page: 48 b8 44 44
    results = []
    for imm in (0x1111222233334444, 0x5555666677774444, 0x1111222233334444):
        emu = Emulator("jit", code_cache=str(tmp_path))
        emu.map(base, 0x2000, "rwx")
        code = straddling_mov(imm)
        emu.write(start, code)
        stop = emu.run(start=start, until=start + len(code) - 1)
        results.append((stop.reason, emu.reg_read("rax"), emu.stats.counters["code_cache_hits"]))
    assert results == [("until", 0x1111222233334444, 0), ("until", 0x5555666677774444, 0),
                       ("until", 0x1111222233334444, 1)]


def test_first_save_of_a_new_version_removes_only_stale_caches_of_other_versions(progs, tmp_path):
    stale, recent, other = tmp_path / ("ab" * 16), tmp_path / ("cd" * 16), tmp_path / "bench"
    for directory in (stale, recent, other):
        directory.mkdir()
        (directory / "x.tbs").write_bytes(b"old")
    week_ago = time.time() - 7 * 86400
    for directory in (stale, other):
        os.utime(directory, (week_ago, week_ago))
    same_as_native(dbt(progs["calls"], "--cache-dir", str(tmp_path)), native(progs["calls"]))
    assert not stale.exists() and (recent / "x.tbs").exists() and (other / "x.tbs").exists()
    assert len([d for d in tmp_path.iterdir() if d.is_dir()]) == 3      # recent, other and this version's


def test_cached_block_holding_a_new_stop_point_is_not_reused(tmp_path, monkeypatch):
    """A block cached by a run without stop points must not run in a run that stops inside it:
    the run ends at the stop, after exactly the instructions before it."""
    monkeypatch.delenv("DBT_CACHE", raising=False)
    base = 0x40000
    code = b"\x48\xc7\xc0\x01\x00\x00\x00" + b"\x48\x83\xc0\x02" + b"\x48\x83\xc0\x04" + b"\xf4"  # rax=1; +2; +4; hlt
    middle = base + 7 + 4                                         # the `add rax, 4`
    results = []
    for until in (base + len(code) - 1, middle):
        emu = Emulator("jit", code_cache=str(tmp_path))
        emu.map(base, 0x1000, "rwx")
        emu.write(base, code)
        stop = emu.run(start=base, until=until)
        results.append((stop.reason, emu.reg_read("rip"), emu.reg_read("rax"), emu.stats.counters["code_cache_hits"]))
    assert results == [("until", base + len(code) - 1, 7, 0), ("until", middle, 3, 0)]


def test_a_cache_hit_loads_the_pages_other_blocks_except_those_holding_a_stop_point(tmp_path, monkeypatch):
    """Block A (rax += 1; rax += 2; jmp C) and block D (eax = 0; jmp A) share a page. Filled by
    a run from D, the cache gives a run from A both blocks at its first hit; a run from D that
    stops inside A loads D but not A (A would run past the stop)."""
    monkeypatch.delenv("DBT_CACHE", raising=False)
    base = 0x40000
    a, c, d = base, base + 10, base + 11
    code = (b"\x48\x83\xc0\x01" + b"\x48\x83\xc0\x02" + b"\xeb\x00"       # A: ...; jmp C (next byte)
            + b"\xf4"                                                     # C: hlt
            + b"\xb8\x00\x00\x00\x00" + bytes([0xEB, (a - (d + 7)) & 0xFF]))   # D: mov eax, 0; jmp A
    results = []
    for start, until in ((d, c), (d, a + 4), (a, c)):
        emu = Emulator("jit", code_cache=str(tmp_path))
        emu.map(base, 0x1000, "rwx")
        emu.write(base, code)
        stop = emu.run(start=start, until=until)
        results.append((stop.reason, emu.reg_read("rip"), emu.reg_read("rax"), emu.stats.counters["code_cache_hits"]))
    assert results == [("until", c, 3, 0), ("until", a + 4, 1, 1), ("until", c, 3, 2)]


class RuntimeStore:
    """The code cache's side of the runtime helpers' object code (native.runtime_library)."""

    def __init__(self, obj=None):
        self.obj, self.kept = obj, None

    def runtime_object(self):
        return self.obj

    def keep_runtime_object(self, obj):
        self.kept = obj


def test_runtime_helpers_are_kept_in_and_loaded_from_the_code_cache(tmp_path):
    """A run with a code cache keeps the helpers' object code; a later run loads it instead of
    making their text and compiling it; the cache file is one of its fingerprint's."""
    from dbt.backend.llvm.codecache import CodeCache
    from dbt.backend.llvm.native import runtime_library
    from dbt.backend.llvm.runtime_helpers import RUNTIME_SYMBOLS, runtime_module

    fresh = RuntimeStore()
    runtime_library(runtime_module, fresh)
    assert fresh.kept

    def no_text():
        raise AssertionError("compiled again")
    loaded = runtime_library(no_text, RuntimeStore(fresh.kept))
    assert all(loaded.linker.address(name) for name in RUNTIME_SYMBOLS)

    first = CodeCache(str(tmp_path), "config", "host")
    assert first.runtime_object() is None
    first.keep_runtime_object(fresh.kept)
    first.save()
    assert CodeCache(str(tmp_path), "config", "host").runtime_object() == fresh.kept
    assert CodeCache(str(tmp_path), "other config", "host").runtime_object() is None


def test_blocks_compiled_together_share_one_object_beside_one_compiled_alone(tmp_path, monkeypatch):
    """Blocks A (rax += 1; jmp B) and B (rax += 2; jmp C) compiled as one module keep one
    object, written once in their page's bundle. A later engine that compiled A alone then
    loads that object for B (which defines A's code a second time, under its group's name):
    the run from A ends with rax = 3, both blocks counted as hits."""
    from dbt.backend.llvm.codecache import decode_bundle
    monkeypatch.delenv("DBT_CACHE", raising=False)
    base = 0x40000
    a, c, b = base, base + 6, base + 7
    code = (b"\x48\x83\xc0\x01" + b"\xeb\x01"          # A: add rax, 1; jmp B
            + b"\xf4"                                  # C: hlt
            + b"\x48\x83\xc0\x02" + b"\xeb\xf9")       # B: add rax, 2; jmp C

    def emulator():
        emu = Emulator("jit", code_cache=str(tmp_path))
        emu.map(base, 0x1000, "rwx")
        emu.write(base, code)
        return emu

    first = emulator()
    blocks = [first.tbs.lift(pc) for pc in (a, b)]
    keys = [first.tbs.cache_key(block, b"page") for block in blocks]
    codes = first.engine.compile_many(blocks, keys=keys)
    assert codes[0].group == codes[1].group != b"" and codes[0].obj is codes[1].obj
    page = first.codecache.page_of(first.mem, a)
    for block, key, native_code in zip(blocks, keys, codes):
        first.codecache.add(page, key, block, native_code)
    first.codecache.save()
    (bundle,) = tmp_path.rglob(page.hex() + ".*")
    data = bundle.read_bytes()
    assert data.count(codes[0].obj) == 1
    assert [(block.pc, block.group) for block in decode_bundle(first.codecache.fingerprint, data)] == \
        [(a, codes[0].group), (b, codes[0].group)]

    second = emulator()
    second.engine.compile(second.tbs.lift(a), keys[0])
    stop = second.run(start=a, until=c)
    assert (stop.reason, second.reg_read("rax"), second.stats.counters["code_cache_hits"]) == ("until", 3, 2)


def test_bundle_keeps_a_groups_object_once_and_rejects_a_group_without_one():
    from dbt.backend.llvm.codecache import HEADER, MAGIC, CachedBlock, decode_bundle, digest, encode_bundle
    fingerprint, group, obj = b"f" * 16, b"g" * 16, b"\x7fELF object code"
    blocks = [CachedBlock(bytes([i]) * 16, 0x1000 + i, 4, 1, (0x2000,), obj, group) for i in range(3)]
    alone = CachedBlock(b"k" * 16, 0x3000, 2, 1, (), b"other object")
    data = encode_bundle(fingerprint, [*blocks, alone])
    assert data.count(obj) == 1
    assert decode_bundle(fingerprint, data) == [*blocks, alone]
    orphan = blocks[1].encode(with_object=False)
    assert decode_bundle(fingerprint, HEADER.pack(MAGIC, fingerprint, len(orphan), digest(orphan)) + orphan) == []


def test_a_cached_blocks_exits_are_those_of_its_ir(tmp_path, monkeypatch):
    """The region walk's view of a block loaded from the cache (direct exits, a call's callee
    and return site, a ret) is what lifting it again gives: the walk chooses the same
    regions warm as cold, without lifting."""
    from dbt.runtime.regions import exits_of
    monkeypatch.delenv("DBT_CACHE", raising=False)
    base = 0x40000
    code = (b"\xb9\x03\x00\x00\x00"                   # mov ecx, 3
            + b"\xe8\x07\x00\x00\x00"                 # top: call fn (base + 17)
            + b"\xff\xc9" + b"\x75\xf7"               # dec ecx; jnz top
            + b"\xf4" + b"\x90\x90"                   # hlt; padding
            + b"\x48\xff\xc0" + b"\xc3")              # fn: inc rax; ret
    loaded = []
    for _ in range(2):
        emu = Emulator("jit", code_cache=str(tmp_path), regions="off")     # blocks only, whatever DBT_REGIONS
        emu.map(base, 0x2000, "rwx")
        emu.write(base, code)
        emu.reg_write("rsp", base + 0x1800)             # the stack on the next page
        assert emu.run(start=base, until=base + 14).reason == "until" and emu.reg_read("rax") == 3
        loaded = [tb for tb in emu.tbs.blocks.values() if tb.ir is None]
    assert len(loaded) == 4
    assert {tb.exits.pc: tb.exits for tb in loaded} == {tb.pc: exits_of(emu.tbs.lift(tb.pc, tb.ninsns))
                                                         for tb in loaded}
    call = next(tb.exits for tb in loaded if tb.exits.returns_to is not None)
    assert (call.callee, call.returns_to) == (base + 17, base + 10) and any(tb.exits.ret for tb in loaded)
