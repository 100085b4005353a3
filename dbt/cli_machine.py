"""`dbt run --machine pc KERNEL.elf`: boot a bare-metal kernel on the pc machine (MACHINE.md).

    dbt run --machine pc [--engine jit|interp | --check] [-m SIZE] [-serial stdio|file:PATH|null]
        [-drive file=PATH] [--append TEXT] [--screenshot PATH.png] [--realtime]
        [-d unimp,in_asm,...] [--stats] [--max-insns N] [--timeout SECONDS] [-g PORT]
        KERNEL.elf

Exit status: what the guest asked for (debug exit port 0xF4: (v << 1) | 1;
hypercall 2: its argument); 0 when it halts for good; 3 on a triple fault;
124 when --max-insns or --timeout (wall clock) is spent; 125 when --check
finds the engines differ (dbt/runtime/lockstep.py); 137 when gdb
(-g PORT) kills it; 1 when the -g port cannot be used; 126 for a kernel
that cannot boot; 127 for a
missing kernel or drive image; 2 for bad options. Every way the run ends
prints at most one line on stderr, keeps all console output (written
unbuffered), flushes the disk image and writes the screenshot.
Deterministic runs start the RTC at 2000-01-01 00:00:00; --realtime uses the
host's clock for both the RTC and the timers. Host stdin feeds the UART's
receiver as it arrives (the terminal is left in its normal line mode).
`-d unimp` logs each access to a port with no device and each instruction
dbt cannot lift (the guest gets #UD) to stderr, or to the -D file.
"""
import argparse
import os
import select
import sys

EXIT_USAGE, EXIT_FAILED, EXIT_NOT_RUNNABLE, EXIT_MISSING, EXIT_DIVERGED = 2, 1, 126, 127, 125
STDOUT_FD = 1
MACHINES = ("pc",)
MACHINE_TRACE_ITEMS = ("unimp",)


def add_machine_arguments(run_parser: argparse.ArgumentParser) -> None:
    """The pc machine's options, on the `run` subparser (user mode ignores them)."""
    if "-serial" in run_parser._option_string_actions:
        return                           # already added
    if "--machine" not in run_parser._option_string_actions:
        run_parser.add_argument("--machine", choices=MACHINES,
                                help="boot PROG as a bare-metal kernel on this machine (see MACHINE.md)")
    group = run_parser.add_argument_group("--machine pc options")
    group.add_argument("-m", dest="ram", default="64M", metavar="SIZE",
                       help="RAM size, e.g. 64M (default), 128M, 1G; a bare number means MiB")
    group.add_argument("-serial", dest="serial", default="stdio", metavar="stdio|file:PATH|null",
                       help="where the console (UART, port 0xE9, hypercall 1) goes (default stdio)")
    group.add_argument("-drive", dest="drive", action="append", metavar="file=PATH",
                       help="raw disk image for the ATA primary master")
    group.add_argument("--append", dest="append", default="", metavar="TEXT",
                       help="kernel command line (boot info, at 0x7100)")
    group.add_argument("--screenshot", dest="screenshot", metavar="PATH.png",
                       help="render the VGA text screen to PATH.png when the run ends")
    group.add_argument("--realtime", action="store_true",
                       help="tie virtual time to the host clock (default: 1 ns per instruction)")


class Console:
    """Guest console output: written at once with os.write, never buffered, never lost."""

    def __init__(self, fd: int, owned: bool = False):
        self.fd, self.owned, self.broken = fd, owned, False

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self.broken:
            try:
                n = os.write(self.fd, view)
            except (BlockingIOError, InterruptedError):
                select.select([], [self.fd], [])
                continue
            except OSError:              # a closed pipe: the guest runs on, unheard
                self.broken = True
                return
            view = view[n:]

    def close(self) -> None:
        if self.owned:
            os.close(self.fd)
            self.owned = False


class HostInput:
    """Non-blocking host input for the UART receiver: the next byte, or None."""

    def __init__(self, fd: int | None):
        self.fd, self.buffer, self.pos = fd, b"", 0

    def __call__(self):
        if self.pos >= len(self.buffer):
            if self.fd is None:
                return None
            try:
                ready, _, _ = select.select([self.fd], [], [], 0)
                if not ready:
                    return None
                self.buffer, self.pos = os.read(self.fd, 4096), 0
            except (OSError, ValueError):
                self.buffer = b""
            if not self.buffer:          # end of input: nothing more will come
                self.fd = None
                return None
        byte = self.buffer[self.pos]
        self.pos += 1
        return byte


def _stdin_fd() -> int | None:
    try:
        return sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _error(message: str, status: int) -> int:
    print(f"dbt: {message}", file=sys.stderr)
    return status


def parse_drive(specs: list[str] | None) -> str | None:
    """`-drive file=PATH[,format=raw][,if=ide][,media=disk]` (or just PATH): the image path."""
    if not specs:
        return None
    if len(specs) > 1:
        raise ValueError("-drive: only one drive (the primary master) is supported")
    spec = specs[0]
    if "=" not in spec.split(",")[0]:
        return spec
    path = None
    for item in spec.split(","):
        key, _, value = item.partition("=")
        if key == "file":
            path = value
        elif (key, value) not in (("format", "raw"), ("if", "ide"), ("media", "disk")):
            raise ValueError(f"-drive: unsupported option {item!r} (raw images on the IDE bus only)")
    if not path:
        raise ValueError(f"-drive {spec!r}: no file=PATH")
    return path


def open_console(serial: str) -> Console:
    if serial == "stdio":
        try:
            sys.stdout.flush()           # anything Python buffered goes first
        except (AttributeError, OSError, ValueError):
            pass
        return Console(STDOUT_FD)
    if serial in ("null", "none"):
        return Console(os.open(os.devnull, os.O_WRONLY), owned=True)
    if serial.startswith("file:") and serial[5:]:
        return Console(os.open(serial[5:], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666), owned=True)
    raise ValueError(f"-serial {serial!r}: use stdio, file:PATH or null")


def _unimp_logger(out):
    """-d unimp: one line per access to an unassigned port."""
    def log(line: str) -> None:
        out.write(f"dbt: {line}\n")
        out.flush()
    return log


def run_machine(ns) -> int:
    """Boot ns.prog on the pc machine; returns the host exit status."""
    from dbt.backend.llvm.codecache import command_line_choice
    from dbt.runtime import machine_boot
    from dbt.runtime.devices.ata import DriveError
    from dbt.runtime.lockstep import EngineDivergence, Lockstep
    from dbt.runtime.machine import MachineConfig, PcMachine
    from dbt.runtime.tiers import jit_after
    from dbt.runtime.trace import Trace

    if ns.args:
        return _error(f"--machine pc boots one kernel file; unexpected arguments: {' '.join(ns.args)}", EXIT_USAGE)
    if ns.max_memory is not None:
        return _error("--max-memory limits a user-mode guest; with --machine pc, -m sets the RAM", EXIT_USAGE)
    if ns.check and ns.gdb_port is not None:
        return _error("--check and -g cannot be used together", EXIT_USAGE)
    try:
        ram_size = machine_boot.parse_ram_size(ns.ram)
        drive = parse_drive(ns.drive)
    except ValueError as e:
        return _error(str(e), EXIT_USAGE)
    for path in (ns.prog, drive):
        if path is not None and not os.path.exists(path):
            return _error(f"{path}: No such file or directory", EXIT_MISSING)
    items = {item for item in ns.trace.split(",") if item}
    trace_out = None
    console = None
    try:
        try:
            console = open_console(ns.serial)
        except OSError as e:
            return _error(f"-serial {ns.serial}: {e.strerror}", EXIT_FAILED)
        except ValueError as e:
            return _error(str(e), EXIT_USAGE)
        if items:
            try:
                trace_out = open(ns.trace_file, "w") if ns.trace_file else sys.stderr
            except OSError as e:
                return _error(f"-D {ns.trace_file}: {e.strerror}", EXIT_FAILED)
        trace = None
        engine_items = items - set(MACHINE_TRACE_ITEMS)
        try:
            if engine_items:
                trace = Trace(engine_items, trace_out)
        except ValueError as e:
            return _error(f"-d: {e}", EXIT_USAGE)
        log_unimp = _unimp_logger(trace_out) if "unimp" in items else None
        config = MachineConfig(
            kernel=ns.prog, engine="interp" if ns.check else ns.engine, ram_size=ram_size, cmdline=ns.append.encode(),
            console_write=console.write,
            console_input=HostInput(_stdin_fd() if ns.serial == "stdio" else None),
            drive=drive, realtime=ns.realtime, log_unimp=log_unimp, trace=trace, opt=ns.opt, regions=ns.regions,
            jit_after=jit_after(ns.jit_after),
            screenshot=ns.screenshot,
            code_cache=False if ns.check else command_line_choice(ns.no_cache, ns.cache_dir))
        try:
            machine = PcMachine(config)
        except (machine_boot.BadKernel, DriveError) as e:
            return _error(str(e), EXIT_NOT_RUNNABLE)
        except PermissionError as e:
            return _error(f"{e.filename}: {e.strerror}", EXIT_NOT_RUNNABLE)
        except ValueError as e:
            return _error(str(e), EXIT_USAGE)
        closing_error = None
        if ns.gdb_port is not None:
            from dbt.runtime.gdbstub import attach_gdb
            error = attach_gdb(machine.emu, ns.gdb_port, user_mode=False)
            if error:
                machine.close()
                return _error(error, EXIT_FAILED)
        if ns.check:
            Lockstep(machine.emu, opt=ns.opt)
        try:
            result = machine.run(max_insns=ns.max_insns, timeout=ns.timeout)
        except EngineDivergence as e:
            print(e, file=sys.stderr)
            return EXIT_DIVERGED
        finally:
            closing_error = machine.close()
            if ns.stats:
                print(machine.emu.stats.report(machine.cpu, "jit+interp" if ns.check else ns.engine), file=sys.stderr)
        for line in (result.message, closing_error):
            if line:
                print(line, file=sys.stderr)
        return result.status
    finally:
        if console is not None:
            console.close()
        if trace_out is not None and trace_out is not sys.stderr:
            trace_out.close()
