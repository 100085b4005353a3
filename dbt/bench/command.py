"""`dbt bench`: options, progress display and output files of the benchmark run.

    dbt bench [--programs a,b] [--libc glibc,musl] [--runners native,qemu,jit,warm,interp]
        [--scale F] [-r N] [--output-dir DIR] [--build-dir DIR] [--timeout S] [--dbt-option OPT]

Writes bench.json, bench.md and bench.png into the output directory and prints the table.
`dbt run` does not import this module (its options are added only when bench is the command);
rich and the suite load when bench runs.
Exit status: 0 when every runner gave every right answer; 1 when a run gave a wrong answer,
failed its self-check, crashed or timed out (one line on stderr names it); 2 for bad options;
3 when the set cannot be built or a requested runner is missing.
"""
import argparse
import shlex
import sys
from pathlib import Path

from dbt.bench.programs import COMPILERS, PROGRAMS, BenchSetupError, default_cache_dir
from dbt.bench.runners import RUNNERS, qemu_path

EXIT_FAILED, EXIT_SETUP = 1, 3


def choices(allowed):
    """An argparse type: a comma-separated list of names from `allowed`, in the given order."""
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
        unknown = [n for n in names if n not in allowed]
        if unknown or not names:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {', '.join(allowed)}")
        return names
    return parse


def positive(kind):
    def parse(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


def add_bench_arguments(bench: argparse.ArgumentParser) -> None:
    """The options of `dbt bench` (dbt/cli.py adds them only when bench is the command)."""
    bench.add_argument("--programs", type=choices(PROGRAMS), default=tuple(PROGRAMS),
                       help=f"comma-separated subset of {','.join(PROGRAMS)} (default: all)")
    bench.add_argument("--libc", dest="libcs", type=choices(COMPILERS), default=("glibc",),
                       help="glibc, musl or glibc,musl (default glibc)")
    bench.add_argument("--runners", type=choices(RUNNERS), default=None,
                       help="comma-separated subset of native,qemu,jit,warm,interp (default: all; "
                            "qemu only when installed; jit runs with no code cache, warm with a "
                            "code cache an untimed run filled)")
    bench.add_argument("--scale", type=positive(float), default=1.0,
                       help="multiply every program's work by F (default 1: ~0.2-0.7 s each natively)")
    bench.add_argument("-r", "--repetitions", type=positive(int), default=3, help="rounds over the set (default 3)")
    bench.add_argument("--output-dir", type=Path, default=Path("bench-results"),
                       help="where bench.json, bench.md and bench.png go (default ./bench-results)")
    bench.add_argument("--build-dir", type=Path, default=None,
                       help=f"cache of the built programs (default {default_cache_dir()})")
    bench.add_argument("--timeout", type=positive(float), default=600.0, help="seconds for one run (default 600)")
    bench.add_argument("--dbt-option", dest="dbt_options", action="append", default=[], metavar="OPT",
                       help="an extra `dbt run` option for the jit and interp runs (repeatable)")


def runners_to_use(requested: tuple[str, ...] | None) -> tuple[str, ...]:
    if requested is None:
        return tuple(r for r in RUNNERS if r != "qemu" or qemu_path())
    if "qemu" in requested and not qemu_path():
        raise BenchSetupError("qemu-x86_64 is not installed (Debian: apt-get install qemu-user)")
    return requested


def run_bench(ns, argv: list[str]) -> int:
    import tempfile                       # here: `dbt run` imports this module, and never runs it
    with tempfile.TemporaryDirectory(prefix="dbt-bench-warm-") as warm_caches:
        return bench(ns, argv, Path(warm_caches))


def bench(ns, argv: list[str], warm_caches: Path) -> int:
    """warm_caches: a fresh directory for the warm runner's code caches, removed afterwards."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from dbt.bench import report, suite

    err = Console(stderr=True)
    try:
        settings = suite.Settings(programs=ns.programs, libcs=ns.libcs, runners=runners_to_use(ns.runners),
                                  scale=ns.scale, repetitions=ns.repetitions, timeout=ns.timeout,
                                  dbt_options=tuple(ns.dbt_options))
        if "qemu" not in settings.runners and ns.runners is None:
            err.print("dbt bench: qemu-x86_64 is not installed; no dbt/qemu column (apt-get install qemu-user)")
        cases = suite.prepare(settings, ns.build_dir or default_cache_dir(), warm_caches)
        ns.output_dir.mkdir(parents=True, exist_ok=True)
    except (BenchSetupError, OSError) as e:
        print(f"dbt bench: {e}", file=sys.stderr)
        return EXIT_SETUP
    machine = report.machine()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("dbt bench", total=suite.steps(settings, cases))

        def step(label: str) -> None:
            progress.update(task, description=label, advance=1)

        try:
            suite.run(settings, cases, step)
        except suite.BenchFailure as e:
            progress.stop()
            print(f"dbt bench: FAILED: {e}", file=sys.stderr)
            return EXIT_FAILED
    rows, geomeans = suite.summary(cases)
    out = Console(width=None if sys.stdout.isatty() else 140)
    out.print(report.rich_table(rows, geomeans))
    command = "dbt " + shlex.join(argv)
    report.write_json(ns.output_dir / "bench.json",
                      {"command": command, "machine": machine, "settings": vars(settings),
                       "results": rows, "geomean": geomeans})
    (ns.output_dir / "bench.md").write_text(report.markdown_table(rows, geomeans))
    report.write_png(ns.output_dir / "bench.png", rows, f"dbt bench: {machine['cpu']}, {machine['cpus']} CPUs")
    out.print(f"wrote {ns.output_dir}/bench.json, bench.md, bench.png")
    return 0
