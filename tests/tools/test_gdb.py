"""The gdb stub in user mode, driven by the real gdb: the same gdb commands on the same
binary, once natively and once through `dbt run -g`, must show the same values,
watchpoint hits, memory and exit. Both engines."""
import re
import select
import signal
import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gdbkit  # noqa: E402

# break at main by symbol, continue, read rip and a local, step a few
# instructions and lines, watch a global, break in code already translated,
# write registers and memory, dump memory, continue to the exit.
WATCHED_SESSION = [
    "break main", "continue",
    'printf "@@ at main rip=%#lx\\n", $rip',
    "next", "next",
    'printf "@@ after next local=%d rip=%#lx\\n", local, $rip',
    "stepi", "stepi", "stepi",
    'printf "@@ after stepi rip=%#lx rax=%#lx eflags=%#x\\n", $rip, $rax, $eflags',
    "watch counter", "continue", "continue",
    'printf "@@ watch rip=%#lx counter=%ld\\n", $rip, counter',
    "delete",
    "break bump", "continue",
    'printf "@@ bump again step=%ld rip=%#lx\\n", step, $rip',
    "set var $r11 = 0x1234abcd", "set var table[3] = 0x5555",
    'printf "@@ wrote r11=%#lx\\n", $r11',
    "finish",
    "delete",
    "awatch table[2]", "continue",
    'printf "@@ awatch rip=%#lx\\n", $rip',
    "delete",
    "x/4gx &table", "print *(long *)0",
    'printf "@@ fs_base set=%d mxcsr=%#x fctrl=%#x\\n", $fs_base != 0, $mxcsr, $fctrl',
    "continue",
]
# The same through the plain packets (c/s, g/G, M) instead of vCont, p/P and X.
PLAIN_PACKETS = ["set remote verbose-resume-packet off", "set remote set-register-packet off",
                 "set remote fetch-register-packet off", "set remote binary-download-packet off"]

BARE_SESSION = [
    "break _start", "continue",
    'printf "@@ at _start rip=%#lx total=%ld\\n", $rip, total',
    "watch total", "continue", "continue", "continue",
    'printf "@@ watch rip=%#lx total=%ld\\n", $rip, total',
    "delete", "stepi",
    'printf "@@ stepi rip=%#lx\\n", $rip',
    "continue",
]


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    gdbkit.need_gdb()
    out = tmp_path_factory.mktemp("gdb")
    return {"watched": gdbkit.build("watched", out),
            "bare": gdbkit.build("bare", out, "-nostdlib", "-fno-pie", "-no-pie")}


@pytest.fixture(scope="module")
def native(programs):
    """The native gdb session of each program (the expected transcript) and its exit status."""
    return {name: gdbkit.debug_native(programs[name], session)
            for name, session in (("watched", WATCHED_SESSION), ("bare", BARE_SESSION))}


@pytest.mark.parametrize("engine", gdbkit.ENGINES)
@pytest.mark.parametrize("name,session", [("watched", WATCHED_SESSION), ("bare", BARE_SESSION)])
def test_gdb_session_matches_native(programs, native, engine, name, session):
    check_against_native(programs[name], native[name], ["--engine", engine], session)


def test_plain_packets_match_native(programs, native):
    check_against_native(programs["watched"], native["watched"], ["--engine", "jit"],
                         PLAIN_PACKETS + WATCHED_SESSION)


def check_against_native(prog, native_text, dbt_args, session):
    expected = gdbkit.transcript(native_text)
    text, code, _out, err = gdbkit.debug_under_dbt([*dbt_args, str(prog)], prog, session)
    assert gdbkit.transcript(text) == expected, text
    assert any(line.startswith("New value") for line in expected), native_text   # the watch fired
    assert expected[-1].startswith("[Inferior 1"), native_text                  # and it ran to its end
    native_code = gdbkit.subprocess.run([str(prog)], capture_output=True, timeout=60).returncode
    assert code == native_code, err


def test_detach_lets_the_guest_run_on(programs):
    prog = programs["watched"]
    native = gdbkit.subprocess.run([str(prog)], capture_output=True, timeout=60)
    text, code, out, err = gdbkit.debug_under_dbt(["--engine", "jit", str(prog)], prog,
                                                  ["break main", "continue", "detach"])
    assert "Breakpoint 1, main" in text and "detached]" in text, text
    assert (code, out) == (native.returncode, native.stdout), err


def test_kill_from_gdb_ends_the_run(programs):
    text, code, _out, err = gdbkit.debug_under_dbt(["--engine", "jit", str(programs["watched"])],
                                                   programs["watched"], ["break main", "continue", "kill"])
    assert "Breakpoint 1, main" in text, text
    assert code == 137 and b"killed by the debugger" in err, (code, err)


@pytest.mark.parametrize("args,status", [((), 139), (("handled",), 42)])
def test_segfault_reported_with_its_signal(tmp_path, args, status):
    """A guest fault stops for gdb with SIGSEGV at the faulting instruction, as natively;
    continuing passes the signal on: to the guest's handler, or the default death."""
    prog = gdbkit.build("segv", tmp_path)
    native = gdbkit.subprocess.run([str(prog), *args], capture_output=True, timeout=60)
    assert native.returncode in (status, -11)
    session = ["continue", 'printf "@@ stopped rip=%#lx\\n", $rip', "continue"]
    native_text = gdbkit.debug_native(prog, session, args)
    text, code, _out, _err = gdbkit.debug_under_dbt(["--engine", "jit", str(prog), *args], prog, session)
    assert "Program received signal SIGSEGV" in native_text
    assert "Program received signal SIGSEGV" in text, text
    assert gdbkit.transcript(text) == gdbkit.transcript(native_text), text
    assert code == status


@pytest.mark.parametrize("engine", gdbkit.ENGINES)
def test_ctrl_c_in_gdb_stops_a_spinning_guest(tmp_path, engine):
    """gdb's Ctrl-C (SIGINT to gdb, which sends 0x03) stops the running guest with SIGINT."""
    prog = gdbkit.build("spin", tmp_path)
    dbt = gdbkit.DbtUnderGdb(["--engine", engine, str(prog)])
    gdb = gdbkit.subprocess.Popen(
        [gdbkit.need_gdb(), "-batch", "-nx", "-ex", f"target remote localhost:{dbt.port}", "-ex", "continue",
         "-ex", 'printf "@@ stopped\\n"', "-ex", "kill", str(prog)],
        stdout=gdbkit.subprocess.PIPE, stderr=gdbkit.subprocess.STDOUT, stdin=gdbkit.subprocess.DEVNULL, text=True)
    try:
        ready, _, _ = select.select([dbt.proc.stdout], [], [], gdbkit.TIMEOUT)
        assert ready and dbt.proc.stdout.readline() == b"spinning\n"
        gdb.send_signal(signal.SIGINT)
        text, _ = gdb.communicate(timeout=gdbkit.TIMEOUT)
    except BaseException:             # neither may outlive a failed test: the guest spins forever
        gdb.kill()
        gdb.wait()
        dbt.kill()
        raise
    code, _out, err = dbt.finish()
    assert "Program received signal SIGINT" in text and "@@ stopped" in text, text
    assert code == 137, err


def test_read_watchpoint_stops_at_the_only_read(programs):
    """rwatch (Z3; the host's debug registers cannot watch reads alone, so there is no native
    run to compare with): it stops once, on the source line that reads, showing the value."""
    source = (gdbkit.SRC / "watched.c").read_text()
    line = next(n for n, text in enumerate(source.splitlines(), 1) if "the only read of table[1]" in text)
    value = int(re.search(r"table\[4\] = \{(\w+), (\w+),", source)[2], 16)
    prog = programs["watched"]
    text, code, _out, err = gdbkit.debug_under_dbt(["--engine", "jit", str(prog)], prog,
                                                  ["break main", "continue", "rwatch table[1]", "continue",
                                                   "continue"])
    assert text.count("Value = ") == 1 and f"Value = {value}" in text, text
    assert re.search(rf"^{line}\s", text, re.M), text
    assert code == gdbkit.subprocess.run([str(prog)], capture_output=True, timeout=60).returncode, err


@pytest.mark.parametrize("machine", [(), ("--machine", "pc")])
def test_unusable_port_is_one_line_and_status_1(programs, machine):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        for port in (taken.getsockname()[1], 70000):
            proc = gdbkit.subprocess.run(
                [sys.executable, "-m", "dbt", "run", *machine, "-g", str(port), str(programs["bare"])],
                capture_output=True, timeout=120, cwd=gdbkit.REPO, env=gdbkit.dbt_env())
            lines = proc.stderr.decode().splitlines()
            assert proc.returncode == 1, proc.stderr
            assert lines[-1].startswith(f"dbt: -g {port}: ") and "Traceback" not in proc.stderr.decode(), lines
