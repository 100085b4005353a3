"""Malformed ELF files (elfcorpus.py, made from freshly built valid programs) against both loaders.

`dbt run PROG` and `dbt run --machine pc KERNEL` must refuse every one with
one line on stderr and status 126: no traceback, no internal error, no hang,
no memory blow-up. Where the host kernel itself refuses to execve a variant,
dbt refuses it too. The whole corpus runs in-process through the CLI entry
point (fast); a few variants also run as subprocesses whose peak RSS and
wall time are measured.
"""
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import guestbuild
from elfcorpus import Elf, corpus, with_phdr
from dbt.cli import main

EXIT_NOT_RUNNABLE = 126
KERNEL_STATUS = (0x2B << 1) | 1      # the debug-exit port's status for the byte the kernel writes
KERNEL_SOURCE = """
    .intel_syntax noprefix
    .globl _start
    .text
_start:
    mov al, [rip + code]
    out 0xf4, al
    hlt
    .data
code: .byte 0x2b
"""
KERNEL_LINK = ["-nostdlib", "-static", "-Wl,-Ttext=0x100000,--build-id=none,-z,noseparate-code"]
# Variants a loader may accept: Linux maps a 60 GiB bss lazily (the guest space is 64 GiB); the pc
# loader copies segments by physical address, so file offsets, PT_INTERP and segment flags do
# not matter to it. These must still end cleanly and within bounds.
MAY_RUN = {"linux": {"memsz 60 GiB"},
           "pc": {"offset and vaddr disagree mod page", "PT_INTERP", "entry in a non-executable segment"}}
MAX_RSS_MB = 600                     # a dbt run is ~150 MB; a loader that commits memsz goes far past
MAX_SECONDS = 60


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    """The valid originals: a C program (R, RX, R segments), the asm hello (also as a static PIE),
    and a pc kernel."""
    out = tmp_path_factory.mktemp("elfcorpus")
    srcs = guestbuild.sources()
    kernel_src = out / "kernel.S"
    kernel_src.write_text(KERNEL_SOURCE)
    gcc = shutil.which("gcc") or "gcc"
    subprocess.run([gcc, *KERNEL_LINK, "-o", str(out / "kernel"), str(kernel_src)], check=True)
    subprocess.run([gcc, "-nostdlib", "-static-pie", "-o", str(out / "hello-pie"), str(srcs["hello"])],
                   check=True)
    return {"calls": guestbuild.build(srcs["calls"], out), "hello": guestbuild.build(srcs["hello"], out),
            "hello-pie": out / "hello-pie", "kernel": out / "kernel"}


def dbt_in_process(capfd, path, machine=False):
    """(status, stderr) of `dbt run [--machine pc] path`, run through the CLI entry point."""
    status = main(["run", "--max-insns", "2000", *(["--machine", "pc"] if machine else []), str(path)])
    return status, capfd.readouterr().err


def host_refuses(path) -> bool:
    """True when the host kernel's execve rejects the file."""
    try:
        subprocess.run([str(path)], capture_output=True, timeout=30)
    except OSError:
        return True
    except subprocess.TimeoutExpired:
        pass
    return False


def check_refused(status, err, name):
    assert "Traceback" not in err and "internal error" not in err, f"{name}: {err}"
    assert status == EXIT_NOT_RUNNABLE, f"{name}: status {status}, stderr {err!r}"
    assert err.count("\n") == 1 and err.startswith("dbt: "), f"{name}: {err!r}"


def test_originals_run(programs, capfd):
    """The unmodified files load: the corpus differs from a runnable file by one edit."""
    for name in ("hello", "hello-pie"):
        assert dbt_in_process(capfd, programs[name])[0] == guestbuild.status(
            guestbuild.run_native(programs[name]).returncode)
    assert dbt_in_process(capfd, programs["kernel"], machine=True)[0] == KERNEL_STATUS


@pytest.mark.parametrize("original", ["calls", "hello", "hello-pie"])
def test_linux_loader_refuses_corpus(programs, capfd, tmp_path, original):
    data = programs[original].read_bytes()
    path = tmp_path / "prog"
    for name, blob in corpus(data):
        path.write_bytes(blob)
        path.chmod(0o755)
        t0 = time.monotonic()
        status, err = dbt_in_process(capfd, path)
        assert time.monotonic() - t0 < MAX_SECONDS, name
        if name in MAY_RUN["linux"]:
            assert "Traceback" not in err and "internal error" not in err, f"{name}: {err}"
            continue
        check_refused(status, err, name)
        if name.startswith("truncated") and int(name.split()[-1]) > Elf(data).phoff + 56 * Elf(data).phnum:
            continue      # inside a segment: the host maps it and faults later; dbt refuses early
        if host_refuses(path):
            assert status == EXIT_NOT_RUNNABLE, name


def test_kernel_loader_refuses_corpus(programs, capfd, tmp_path):
    path = tmp_path / "kernel"
    for name, blob in corpus(programs["kernel"].read_bytes()):
        path.write_bytes(blob)
        status, err = dbt_in_process(capfd, path, machine=True)
        if name in MAY_RUN["pc"]:
            assert "Traceback" not in err and "internal error" not in err, f"{name}: {err}"
            continue
        check_refused(status, err, name)


# `dbt ARGS` that writes its own peak RSS (VmHWM, kB) to the file named by argv[1] as it exits. The
# child's ru_maxrss would not do: Linux carries the forking parent's peak (pytest's) into it.
RSS_PROBE = """
import atexit, re, sys
from dbt.cli import main
def peak(path=sys.argv[1]):
    with open("/proc/self/status") as f, open(path, "w") as out:
        out.write(re.search(r"VmHWM:\\s*(\\d+)", f.read())[1])
atexit.register(peak)
sys.exit(main(sys.argv[2:]))
"""


def run_measured(args, tmp_path):
    """(status, stderr, peak RSS in MB, seconds) of `dbt ARGS` in a subprocess, killed past MAX_SECONDS."""
    peak = tmp_path / "peak"
    t0 = time.monotonic()
    got = subprocess.run([sys.executable, "-c", RSS_PROBE, str(peak), *args], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, timeout=MAX_SECONDS)
    return got.returncode, got.stderr.decode(errors="replace"), int(peak.read_text()) / 1024, \
        time.monotonic() - t0


@pytest.mark.parametrize("name, memsz", [("memsz 60 GiB", 60 << 30), ("memsz 2^63", 1 << 63)])
def test_huge_memsz_bounded(programs, tmp_path, name, memsz):
    """A huge bss neither commits host memory nor takes time per page, in either loader."""
    linux = tmp_path / "prog"
    linux.write_bytes(with_phdr(programs["hello"].read_bytes(), lambda e: e.loads()[-1], memsz=memsz))
    linux.chmod(0o755)
    kernel = tmp_path / "kernel"
    kernel.write_bytes(with_phdr(programs["kernel"].read_bytes(), lambda e: e.loads()[-1], memsz=memsz))
    for cmd in (["run", str(linux)], ["run", "--machine", "pc", "-m", "64G", str(kernel)]):
        status, err, rss, seconds = run_measured(cmd, tmp_path)
        assert seconds < MAX_SECONDS and rss < MAX_RSS_MB, (cmd, status, err, rss, seconds)
        assert "Traceback" not in err and "internal error" not in err, (cmd, err)
        assert status in (0, EXIT_NOT_RUNNABLE, KERNEL_STATUS), (cmd, status, err)


def test_corpus_files_differ_from_originals(programs):
    """Each variant is a real edit (a mutation that changed nothing would test nothing)."""
    for original in programs.values():
        data = Path(original).read_bytes()
        assert all(blob != data for _name, blob in corpus(data))


def test_page_areas_equal_the_page_by_page_union():
    """The loader's O(segments) permission areas equal a page-by-page union (the old, O(pages)
    way that made a 60 GiB bss take minutes) on random layouts, sharing pages or not."""
    import random

    from dbt.runtime.linux.elf import page_areas
    page = 0x1000

    def by_page(ranges):
        flags = {}
        for start, end, f in ranges:
            for p in range(start & ~(page - 1), end, page):
                flags[p] = flags.get(p, 0) | f
        areas = []
        for p, f in sorted(flags.items()):
            if areas and areas[-1][1] == p and areas[-1][2] == f:
                areas[-1] = (areas[-1][0], p + page, f)
            else:
                areas.append((p, p + page, f))
        return areas

    rng = random.Random(6)
    for _ in range(3000):
        pos, ranges = rng.randrange(3 * page), []
        for _ in range(rng.randrange(1, 5)):
            size = rng.randrange(1, 3 * page)
            ranges.append((pos, pos + size, rng.choice((1, 2, 4, 5, 6, 7))))
            pos += size + rng.choice((0, 0, 1, 100, page, 5 * page))
        rng.shuffle(ranges)
        assert page_areas(ranges) == by_page(ranges), ranges
