"""`dbt bench` end to end on a tiny size: it runs every runner, checks every answer against
the native run, prints the table and writes JSON, Markdown and a PNG; a wrong answer or a
bad option ends it with one line and a documented status. Timings are never asserted."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from dbt.bench.programs import COMPILERS, PROGRAMS, SOURCE_DIR, build
from dbt.bench.runners import qemu_path

REPO = Path(__file__).resolve().parents[1]
TINY = ["--scale", "0.001", "-r", "1"]
BAR_COLORS = ((31, 119, 180), (255, 127, 14), (44, 160, 44))   # matplotlib's tab:blue, orange, green


def bench(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "dbt", "bench", *args], capture_output=True, cwd=cwd, timeout=600)


def test_every_program_has_a_source_and_every_source_a_program():
    assert sorted(PROGRAMS) == sorted(p.stem for p in SOURCE_DIR.glob("*.c"))


@pytest.mark.parametrize("libc", COMPILERS)
def test_programs_pass_their_self_check_natively(tmp_path, libc):
    """Each program at its interpreter size exits 0 and prints its name and a checksum."""
    for program in PROGRAMS.values():
        binary = build(program, libc, tmp_path)
        proc = subprocess.run([str(binary), str(program.interp_size)], capture_output=True, timeout=60)
        assert proc.returncode == 0, (program.name, proc.stderr)
        name, *checksum = proc.stdout.decode().split()
        assert name == program.name and checksum


def test_bench_runs_checks_and_reports(tmp_path):
    out = tmp_path / "out"
    proc = bench("--programs", "sieve,mixed", *TINY, "--output-dir", str(out), "--build-dir", str(tmp_path / "build"))
    assert proc.returncode == 0, proc.stderr.decode()
    table = proc.stdout.decode()
    for text in ("sieve (glibc)", "mixed (glibc)", "geomean", "dbt/native", "jit/interp"):
        assert text in table
    document = json.loads((out / "bench.json").read_text())
    runners = ["native", "qemu", "jit", "warm", "interp"] if qemu_path() else ["native", "jit", "warm", "interp"]
    assert document["settings"]["runners"] == runners
    assert [row["program"] for row in document["results"]] == ["sieve", "mixed"]
    for row in document["results"]:
        binary = next((tmp_path / "build").glob(f"{row['program']}-glibc-*"))
        native = subprocess.run([str(binary), str(row["size"])], capture_output=True, timeout=60)
        assert row["answer"] == native.stdout.decode()              # the checked answer is the real one
        assert sorted(row["median_wall_seconds"]) == sorted(runners)
        wall = row["median_wall_seconds"]
        assert row["ratios"]["dbt/native"] == pytest.approx(wall["jit"] / wall["native"])
        assert row["ratios"]["warm/native"] == pytest.approx(wall["warm"] / wall["native"])
        assert row["guest_insns"]["warm"] == row["guest_insns"]["jit"]
        assert row["code_cache_hits"]["jit"] == [0] and row["code_cache_hits"]["warm"][0] > 0   # cold vs warm
        assert row["guest_insns"]["interp"] > 0 and row["guest_insns"]["jit"] > row["guest_insns"]["interp"]
    assert set(document["geomean"]) >= {"dbt/native", "warm/native", "jit/interp"}
    assert (out / "bench.md").read_text().startswith("| program |")
    with Image.open(out / "bench.png") as image:
        assert image.format == "PNG" and image.size[0] > 100
        rgb = image.convert("RGB").tobytes()
    pixels = [rgb[i:i + 3] for i in range(0, len(rgb), 3)]
    for color in BAR_COLORS:       # the bars are drawn, not just their legend (~150 pixels each)
        assert pixels.count(bytes(color)) > 1000, color


def test_a_run_of_some_runners_plots_what_it_measured(tmp_path):
    """Only native run: the plot says what was not measured, and nothing warns."""
    out = tmp_path / "out"
    proc = bench("--programs", "sieve", "--runners", "native", *TINY, "--output-dir", str(out),
                 "--build-dir", str(tmp_path / "build"))
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"Warning" not in proc.stderr, proc.stderr.decode()
    with Image.open(out / "bench.png") as image:
        assert image.format == "PNG"


def test_a_wrong_answer_fails_the_benchmark(tmp_path):
    """dbt stopped early (--max-insns) gives no answer: the benchmark fails with one line, status 1."""
    proc = bench("--programs", "fib", "--runners", "native,jit", *TINY, "--dbt-option=--max-insns=5000",
                 "--output-dir", str(tmp_path / "out"), "--build-dir", str(tmp_path / "build"))
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert "Traceback" not in err and err.count("\n") == 1
    assert "fib (glibc) under jit" in err
    assert not (tmp_path / "out" / "bench.json").exists()


def test_missing_qemu_is_a_setup_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "dbt", "bench", "--runners", "native,qemu", *TINY,
                           "--output-dir", str(tmp_path)], capture_output=True, cwd=REPO, timeout=60,
                          env={"PATH": str(tmp_path), "PYTHONPATH": str(REPO)})
    assert proc.returncode == 3
    assert proc.stderr.decode().startswith("dbt bench: qemu-x86_64 is not installed")


@pytest.mark.parametrize("args", [["--programs", "nonesuch"], ["--scale", "0"], ["--runners", "jit,bogus"],
                                  ["-r", "-1"]])
def test_bad_options(tmp_path, args):
    proc = bench(*args, "--output-dir", str(tmp_path))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr.decode()
