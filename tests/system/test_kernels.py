"""The example kernels (examples/kernels/) booted on the pc machine, end to end.

Each kernel is built here with gcc (never skipped: no gcc is a failure) and
run with `python -m dbt run --machine pc` under both engines. The expected
values come from the kernels' own checks (each prints OK or FAIL per check)
and from the hardware contract (MACHINE.md: exit statuses, the VGA palette,
the disk image's bytes), never from an earlier dbt run. Both engines must
agree byte for byte: console output, exit status, instructions retired,
and the disk image they leave.
"""
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from machinekit import REPO, build_example_kernels

ENGINES = ("jit", "interp")
TIMEOUT = 300

OK_STATUS = 1            # debug exit port 0xF4 with KERNEL_OK (0): (0 << 1) | 1
HYPERCALL_OK_STATUS = 42
SECTOR = 512
IMAGE_SECTORS = 64
DISK_LABEL = b"dbt test image: sector zero"
DISK_FIRST, DISK_COUNT = 1, 8

# MACHINE.md "Output and pictures": the VGA text palette.
PALETTE = [0x000000, 0x0000AA, 0x00AA00, 0x00AAAA, 0xAA0000, 0xAA00AA, 0xAA5500, 0xAAAAAA,
           0x555555, 0x5555FF, 0x55FF55, 0x55FFFF, 0xFF5555, 0xFF55FF, 0xFFFF55, 0xFFFFFF]
CELL_W, CELL_H = 8, 16


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    """Build every example kernel with its Makefile into a fresh directory."""
    return build_example_kernels(tmp_path_factory.mktemp("kernels"))


def run_pc(kernel: Path, engine: str, *options: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "dbt", "run", "--machine", "pc", "--engine", engine, "--stats",
           *options, str(kernel)]
    return subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, cwd=REPO)


def insns_retired(proc) -> int:
    text = proc.stderr.decode(errors="replace")
    found = re.search(r"^\s*insns_retired\s+(\d+)\s*$", text, re.M)
    assert found, f"no insns_retired in stderr:\n{text}"
    return int(found[1])


def assert_engines_agree(runs: dict) -> None:
    jit, interp = runs["jit"], runs["interp"]
    assert jit.stdout == interp.stdout
    assert jit.returncode == interp.returncode
    assert insns_retired(jit) == insns_retired(interp)


def assert_clean(proc) -> None:
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")


@pytest.fixture(scope="module")
def runs(kernels):
    """runs(name, *options) -> {engine: CompletedProcess}, each run once per module."""
    cache = {}

    def run(name, *options):
        key = (name, options)
        if key not in cache:
            cache[key] = {engine: run_pc(kernels / f"{name}.elf", engine, *options) for engine in ENGINES}
            for proc in cache[key].values():
                assert_clean(proc)
        return cache[key]
    return run


# -- hello -------------------------------------------------------------------------
def test_hello(runs):
    result = runs("hello", "-m", "128M", "--append", "dbt says hi")
    for proc in result.values():
        assert proc.stdout == (b"Hello from the dbt pc machine!\n"
                               b"boot info: magic=0x4350544244 ram=128 MiB cmdline=\"dbt says hi\"\n"
                               b"hello: OK\n")
        assert proc.returncode == OK_STATUS
    assert_engines_agree(result)


# -- timer -------------------------------------------------------------------------
def test_timer_counts_interrupts_and_reads_the_rtc(runs):
    result = runs("timer")
    for proc in result.values():
        out = proc.stdout.decode()
        assert "timer: time OK, rdtsc OK, pit count OK\n" in out, out
        assert re.search(r"^rtc: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(24h=1 bcd=1\)$", out, re.M), out
        assert out.endswith("timer: ticks=100 OK\n"), out
        assert proc.returncode == OK_STATUS
    assert_engines_agree(result)


# -- exceptions ----------------------------------------------------------------------
EXCEPTION_CASES = ["#DE div by zero: vector=0 error=0x0", "#UD ud2: vector=6 error=0x0",
                   "#GP rdmsr of an unknown MSR: vector=13 error=0x0",
                   "#GP wrmsr of a non-canonical FS base: vector=13 error=0x0",
                   # 64 MiB of RAM: the reads and writes go to 0x4001000 and 0x4002008
                   "#PF read beyond RAM: vector=14 error=0x0 rip=expected cr2=0x4001000",
                   "#PF write beyond RAM: vector=14 error=0x2 rip=expected cr2=0x4002008",
                   "#BP int3: vector=3 error=0x0", "int 0x40: vector=64 error=0x0",
                   "#NP int 0x41 through a gate not present: vector=11 error=0x20a"]


def test_exceptions_are_delivered_through_the_idt(runs):
    result = runs("exceptions")
    for proc in result.values():
        lines = proc.stdout.decode().splitlines()
        assert len(lines) == len(EXCEPTION_CASES) + 1, lines
        for line, case in zip(lines, EXCEPTION_CASES):
            assert line.startswith(case) and line.endswith(" OK") and "rip=expected" in line, line
        assert lines[-1] == f"exceptions: {len(EXCEPTION_CASES)}/{len(EXCEPTION_CASES)} OK"
        assert proc.returncode == OK_STATUS
    assert_engines_agree(result)


# -- disk --------------------------------------------------------------------------
def disk_pattern(sector: int) -> bytes:
    """What disk.c writes: byte i of sector s is ((s*37 + i*11 + (i >> 8)) & 0xFF) ^ 0xA5."""
    return bytes((((sector * 37 + i * 11 + (i >> 8)) & 0xFF) ^ 0xA5) for i in range(SECTOR))


def fresh_image(path: Path) -> Path:
    path.write_bytes(DISK_LABEL.ljust(SECTOR, b"\0") + bytes(SECTOR * (IMAGE_SECTORS - 1)))
    return path


def expected_image() -> bytes:
    written = b"".join(disk_pattern(s) for s in range(DISK_FIRST, DISK_FIRST + DISK_COUNT))
    tail = bytes(SECTOR * (IMAGE_SECTORS - 1 - DISK_COUNT))
    return DISK_LABEL.ljust(SECTOR, b"\0") + written + tail


@pytest.mark.parametrize("mode", ["verify", "quick"])
def test_disk_writes_reach_the_image(kernels, tmp_path, mode):
    """`quick` ends the run through port 0xF4 right after the last write: no flush, no read."""
    result, images = {}, {}
    for engine in ENGINES:
        image = fresh_image(tmp_path / f"{engine}.img")
        options = ["-drive", f"file={image},format=raw"] + (["--append", "quick"] if mode == "quick" else [])
        proc = run_pc(kernels / "disk.elf", engine, *options)
        assert_clean(proc)
        out = proc.stdout.decode()
        assert f'disk: model="DBT HARDDISK" sectors={IMAGE_SECTORS} lba=1\n' in out, out
        assert f'disk: sector 0 says "{DISK_LABEL.decode()}"\n' in out, out
        assert f"disk: wrote sectors {DISK_FIRST}-{DISK_FIRST + DISK_COUNT - 1} OK\n" in out, out
        if mode == "verify":
            assert out.endswith(f"disk: read back {DISK_COUNT} sectors, 0 bytes differ\ndisk: OK\n"), out
        assert proc.returncode == OK_STATUS
        images[engine] = image.read_bytes()
        assert images[engine] == expected_image()
        result[engine] = proc
    assert_engines_agree(result)


# -- vga ---------------------------------------------------------------------------
def read_png(path: Path) -> tuple[int, int, list[list[int]]]:
    """Decode an 8-bit RGB or RGBA, non-interlaced PNG into rows of 0xRRGGBB pixels."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _comp, _filter, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append([int.from_bytes(line[x * bpp:x * bpp + 3], "big") for x in range(width)])
        prev = line
    return width, height, rows


def cell_colours(rows, row: int, col: int) -> list[int]:
    return [rows[y][x] for y in range(row * CELL_H, (row + 1) * CELL_H)
            for x in range(col * CELL_W, (col + 1) * CELL_W)]


def assert_glyph(rows, row: int, col: int, attr: int) -> None:
    """A letter: drawn only in its foreground and background colours, and in both."""
    fg, bg = PALETTE[attr & 0xF], PALETTE[(attr >> 4) & 0x7]
    seen = set(cell_colours(rows, row, col))
    assert seen == {fg, bg}, (row, col, [f"{c:06x}" for c in seen])


def assert_filled(rows, row: int, col: int, colour: int) -> None:
    seen = set(cell_colours(rows, row, col))
    assert seen == {colour}, (row, col, [f"{c:06x}" for c in seen])


def test_vga_screenshot_shows_the_attributes(kernels, tmp_path):
    result = {}
    for engine in ENGINES:
        png = tmp_path / f"{engine}.png"
        proc = run_pc(kernels / "vga.elf", engine, "--screenshot", str(png))
        assert_clean(proc)
        assert proc.stdout == b"vga: 80x25 text screen written, 0 cells wrong OK\n"
        assert proc.returncode == OK_STATUS
        width, height, rows = read_png(png)
        assert (width, height) == (640, 400)
        blue = PALETTE[1]
        assert_filled(rows, 24, 79, blue)                     # a space with attribute 0x17
        assert_glyph(rows, 0, 0, 0x1E)                        # 'd' of the title, yellow on blue
        assert_filled(rows, 0, 3, blue)                       # the space after "dbt"
        for b in range(8):
            for f in range(16):
                attr = b << 4 | f
                assert_filled(rows, 2 + b, 4 * f + 2, PALETTE[f])     # 0xDB, the full block
                if PALETTE[f] == PALETTE[b]:
                    assert_filled(rows, 2 + b, 4 * f + 3, PALETTE[f])
                else:
                    assert_glyph(rows, 2 + b, 4 * f + 3, attr)
                assert_filled(rows, 2 + b, 4 * f + 4, blue)
        for col, ch in enumerate("Hello, VGA!"):
            if ch == " ":
                assert_filled(rows, 12, col, PALETTE[4])
            else:
                assert_glyph(rows, 12, col, 0x4F)
        result[engine] = (proc, png.read_bytes())
    assert_engines_agree({engine: proc for engine, (proc, _png) in result.items()})
    assert result["jit"][1] == result["interp"][1]


# -- hypercall ---------------------------------------------------------------------
def test_hypercalls(runs):
    result = runs("hypercall")
    for proc in result.values():
        lines = proc.stdout.decode().splitlines()
        assert lines[0] == "hypercall: hello through vmcall 1"
        assert "hypercall: version=1" in lines
        checks = [line for line in lines if line.endswith((" OK", " FAIL"))]
        assert len(checks) == 5 and all(line.endswith(" OK") for line in checks), lines
        assert lines[-1] == "hypercall: OK, exiting with status 42"
        assert proc.returncode == HYPERCALL_OK_STATUS
    assert_engines_agree(result)
