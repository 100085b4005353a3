"""The `dbt` command. `dbt run [options] PROG [ARGS...]` runs a static x86-64 Linux program;
`dbt run --machine pc [options] KERNEL.elf` boots a bare-metal guest (dbt/cli_machine.py);
`dbt bench [options]` runs the benchmark set (dbt/bench/command.py, its own exit statuses).

Exit status: the guest's own; 128 + signal when a guest fault kills it
(137 when gdb kills it); 124 when a budget is spent (--max-insns N
instructions retired, or --timeout SECONDS of wall-clock time; as timeout(1));
130 on Ctrl-C (SIGINT to dbt, as a shell reports a program SIGINT killed); 125
when --check finds the JIT and the interpreter differ (the report names the
first instruction whose effects differ, and each register, flag and memory
range that does, with both values; dbt/runtime/lockstep.py); 126
for a file that is not a runnable x86-64 ELF (or whose image and stack alone
exceed --max-memory); 127 for a missing file; 2 for bad options (e.g. -d items,
or a bad DBT_CACHE or DBT_JIT_AFTER); 1 when the -g port or the -D file cannot be
used; 70 for an internal error (with one line, never a traceback unless
DBT_DEBUG=1 is set). Each of these ends with at most one
line on stderr, and everything the guest wrote before is kept.
--max-memory BYTES bounds the guest's mappings as RLIMIT_AS would (brk, mmap
and mremap beyond it fail with ENOMEM; getrlimit reports it).
Compiled code is kept across runs in a code cache (--cache-dir, --no-cache), and
dbt's own Python bytecode too (every module imported after this one's first
lines), even under PYTHONDONTWRITEBYTECODE: compiling them again costs every
run ~0.05 s (measured, sieve of 100: 0.62-0.64 s with bytecode, 0.69 s without).
"""
import argparse
import gc
import os
import sys

sys.dont_write_bytecode = False           # before dbt's other modules load (see above)

from dbt.backend.llvm.codecache import choose_directory, command_line_choice, environment_setting
from dbt.cli_machine import add_machine_arguments, run_machine
from dbt.runtime.regions import MODES, command_line_mode
from dbt.runtime.tiers import DEFAULT_JIT_AFTER, jit_after

EXIT_NOT_RUNNABLE, EXIT_MISSING, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_FAILED, EXIT_USAGE = 126, 127, 70, 130, 1, 2
EXIT_DIVERGED = 125


class EnvEdit(argparse.Action):
    """-E VAR=VALUE and -U VAR, kept in command-line order (applied as qemu does)."""

    def __call__(self, parser, namespace, value, option_string=None):
        if option_string == "-E" and "=" not in value:
            parser.error(f"-E expects VAR=VALUE, got {value!r}")
        getattr(namespace, self.dest).append((option_string, value))


def guest_environment(edits) -> dict[str, str]:
    """The host's environment with the -E/-U edits applied in order."""
    env = dict(os.environ)
    for option, value in edits:
        if option == "-E":
            name, _, val = value.partition("=")
            env[name] = val
        else:
            env.pop(value, None)
    return env


def positive(kind):
    """An argparse type: a number of `kind` above zero."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be above 0: {text!r}")
        return value
    parse.__name__ = kind.__name__
    return parse


def memory_size(text: str) -> int:
    """--max-memory: bytes, or with a K/M/G/T suffix (binary units)."""
    from dbt.runtime.machine_boot import parse_size
    try:
        return parse_size(text, unit=1)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; bench's options only when `command` (the first argument) is
    bench: `dbt run` then never imports the benchmark modules (~4 ms of a warm run's start)."""
    parser = argparse.ArgumentParser(prog="dbt", description="dbt: a dynamic binary translator for x86-64")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a static x86-64 Linux program")
    run.add_argument("--engine", choices=("jit", "interp"), default="jit",
                     help="jit: compile with LLVM (default); interp: interpret the IR in Python")
    run.add_argument("--check", action="store_true",
                     help="run every block under both engines in lockstep and stop at the first "
                          "instruction whose effects differ (status 125); --engine is then ignored")
    run.add_argument("--stats", action="store_true", help="print run statistics to stderr at the end")
    run.add_argument("-d", dest="trace", default="", metavar="ITEMS",
                     help="trace, comma-separated: in_asm,op,out_asm (per block translated), exec (per block run), "
                          "int (exceptions, interrupts, signals), unimp (what dbt lacks)")
    run.add_argument("-D", dest="trace_file", metavar="FILE", help="write -d output to FILE (default stderr)")
    run.add_argument("-g", dest="gdb_port", type=int, metavar="PORT",
                     help="wait for gdb on localhost:PORT (0: any free port) and let it debug the guest")
    run.add_argument("--max-insns", type=positive(int), metavar="N", help="stop after N guest instructions")
    run.add_argument("--timeout", type=positive(float), metavar="SECONDS",
                     help="stop the guest after SECONDS of wall-clock time (status 124)")
    run.add_argument("--max-memory", type=memory_size, metavar="BYTES",
                     help="limit the guest's address space (suffixes K, M, G), as RLIMIT_AS")
    run.add_argument("--opt", type=int, default=0, choices=range(4), help="LLVM code generation level")
    run.add_argument("--regions", choices=MODES, default=None,
                     help="jit: compile hot loops/functions as optimised regions (default $DBT_REGIONS, else "
                          "on with a code cache and background without; on: compiled at once; "
                          "background: compiled on a thread while the guest runs; always: nearly every block)")
    run.add_argument("--jit-after", type=positive(int), default=None, metavar="N",
                     help="jit: interpret a new block until its N-th run, then compile it (default "
                          "$DBT_JIT_AFTER or %d; 1: compile every block on its first run)" % DEFAULT_JIT_AFTER)
    run.add_argument("--root", metavar="DIR",
                     help="confine the guest's file system to DIR, as chroot would (default: the host's)")
    run.add_argument("--strace", action="store_true", help="log each guest syscall to stderr")
    run.add_argument("--cache-dir", metavar="DIR",
                     help="keep compiled code in DIR across runs (default $XDG_CACHE_HOME/dbt or ~/.cache/dbt)")
    run.add_argument("--no-cache", action="store_true",
                     help="neither read nor write the code cache (DBT_CACHE=off does the same)")
    run.add_argument("-E", dest="env_edits", action=EnvEdit, metavar="VAR=VALUE", default=[],
                     help="set VAR in the guest's environment (repeatable)")
    run.add_argument("-U", dest="env_edits", action=EnvEdit, metavar="VAR", default=[],
                     help="remove VAR from the guest's environment (repeatable)")
    add_machine_arguments(run)
    run.add_argument("prog", help="the program (with --machine pc: the kernel ELF)")
    run.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    bench = sub.add_parser("bench", help="run the benchmark set under native, qemu-x86_64, dbt jit and interp")
    if command == "bench":
        from dbt.bench.command import add_bench_arguments
        add_bench_arguments(bench)
    return parser


def run_command(ns) -> int:
    if ns.machine:
        return run_machine(ns)
    from dbt.runtime.linux.elf import BadProgram
    from dbt.runtime.linux.process import LinuxProcess
    from dbt.runtime.trace import Trace

    if ns.check and ns.gdb_port is not None:
        print("dbt: --check and -g cannot be used together", file=sys.stderr)
        return EXIT_USAGE
    if not os.path.exists(ns.prog):
        print(f"dbt: {ns.prog}: No such file or directory", file=sys.stderr)
        return EXIT_MISSING
    trace_out = trace = None
    if ns.trace:
        try:
            trace = Trace(set(ns.trace.split(",")), None)
            trace_out = trace.out = open(ns.trace_file, "w") if ns.trace_file else sys.stderr
        except ValueError as e:
            print(f"dbt: -d: {e}", file=sys.stderr)
            return EXIT_USAGE
        except OSError as e:
            print(f"dbt: -D {ns.trace_file}: {e.strerror}", file=sys.stderr)
            return EXIT_FAILED
    try:
        if ns.root is not None and not os.path.isdir(ns.root):
            print(f"dbt: --root {ns.root}: not a directory", file=sys.stderr)
            return EXIT_MISSING
        code_cache = False if ns.check else command_line_choice(ns.no_cache, ns.cache_dir)
        regions = command_line_mode(ns.regions, choose_directory(code_cache) is not None)
        proc = LinuxProcess(ns.prog, [ns.prog, *ns.args], env=guest_environment(ns.env_edits),
                            engine="interp" if ns.check else ns.engine, trace=trace, opt=ns.opt,
                            root=ns.root, regions=regions, strace=sys.stderr if ns.strace else None,
                            max_memory=ns.max_memory, jit_after=jit_after(ns.jit_after), code_cache=code_cache)
    except BadProgram as e:
        print(f"dbt: {e}", file=sys.stderr)
        return EXIT_NOT_RUNNABLE
    except (PermissionError, ValueError) as e:
        print(f"dbt: {ns.prog}: {e}", file=sys.stderr)
        return EXIT_NOT_RUNNABLE
    if ns.gdb_port is not None:
        from dbt.runtime.gdbstub import attach_gdb
        error = attach_gdb(proc.emu, ns.gdb_port, user_mode=True)
        if error:
            print(f"dbt: {error}", file=sys.stderr)
            return EXIT_FAILED
    divergence = ()                   # what --check raises: nothing to catch without it
    if ns.check:
        from dbt.runtime.lockstep import EngineDivergence, Lockstep
        Lockstep(proc.emu, opt=ns.opt)
        divergence = EngineDivergence
    try:
        result = proc.run(max_insns=ns.max_insns, timeout=ns.timeout)
    except divergence as e:
        print(e, file=sys.stderr)
        return EXIT_DIVERGED
    finally:
        if ns.stats:
            print(proc.emu.stats.report(proc.emu.cpu, "jit+interp" if ns.check else ns.engine), file=sys.stderr)
        if trace_out is not None and trace_out is not sys.stderr:
            trace_out.close()
    if result.message:
        print(result.message, file=sys.stderr)
    return result.status


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ns = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        environment_setting()
        jit_after()               # DBT_JIT_AFTER
    except ValueError as e:
        print(f"dbt: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if ns.command == "run":
            return run_command(ns)
        if ns.command == "bench":
            from dbt.bench.command import run_bench
            return run_bench(ns, argv)
    except KeyboardInterrupt:
        print("dbt: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:        # a dbt bug: one line, the traceback only on request
        if os.environ.get("DBT_DEBUG"):
            raise
        print(f"dbt: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_INTERNAL
    return 2


def entry() -> None:
    """The `dbt` command: main(), then leave at once, output flushed. The interpreter's
    teardown (every object freed, the JIT engines disposed, the guest space unmapped, the
    region worker joined) added ~70 ms to a 0.55 s run; the run has already closed
    its files and saved its code cache, and guest output went straight to file descriptors.
    Translation allocates IR by the hundred thousand: with the cyclic collector's default
    threshold (700 allocations) it ran ~250 times a run, 40-80 ms of it; at 20,000, 8-10
    times, 20-30 ms (sieve, strings, fib of the benchmark set)."""
    gc.set_threshold(20_000, 20, 20)
    status = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):    # closed, or a pipe whose reader left: nothing to keep
            pass
    os._exit(status)


if __name__ == "__main__":
    entry()
