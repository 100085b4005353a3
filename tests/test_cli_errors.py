"""`dbt run` on bad input ends cleanly: one line on stderr, no traceback, and
a shell-style exit status (127 not found, 126 not runnable, 128 + signal for
a guest fault). A faulting guest's output up to the fault is not lost."""
import re
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

sys.path.insert(0, str(Path(__file__).resolve().parent / "guest"))
import guestbuild  # noqa: E402

ENGINES = ["jit", "interp"]


@pytest.fixture(scope="module")
def bins(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("bad")
    srcs = guestbuild.sources()
    return {name: guestbuild.build(srcs[name], outdir)
            for name in ("hello", "bad_ud2", "bad_segv", "bad_div0")}


def one_error_line(proc):
    """The single stderr line, after checking there is exactly one."""
    err = proc.stderr.decode(errors="replace")
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].strip(), f"want one stderr line, got:\n{err}"
    return lines[0]


def symbol(prog, name):
    with open(prog, "rb") as f:
        return ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name(name)[0]["st_value"]


def missing(path, elf):
    pass


def text_file(path, elf):
    path.write_text("this is not an ELF file\n")


def truncated_elf(path, elf):
    path.write_bytes(elf[:100])


def arm_elf(path, elf):
    assert elf[18:20] == b"\x3e\x00"         # e_machine = EM_X86_64
    path.write_bytes(elf[:18] + b"\x28\x00" + elf[20:])   # EM_ARM


@pytest.mark.parametrize("make, want", [
    (missing, 127), (text_file, 126), (truncated_elf, 126), (arm_elf, 126)])
def test_bad_program_file(tmp_path, bins, make, want):
    prog = tmp_path / "prog"
    make(prog, bins["hello"].read_bytes())
    got = guestbuild.run_dbt(prog)
    one_error_line(got)
    assert got.returncode == want


def run_fault(bins, name, engine, want_status):
    """Run a faulting guest natively and under dbt: same stdout, same status
    (want_status, the shell's 128 + signal). Returns dbt's stderr line."""
    native = guestbuild.run_native(bins[name])
    assert native.stdout.startswith(b"before ")
    assert guestbuild.status(native.returncode) == want_status
    got = guestbuild.run_dbt(bins[name], engine=engine)
    line = one_error_line(got)
    assert got.stdout == native.stdout
    assert got.returncode == want_status
    return line


@pytest.mark.parametrize("engine", ENGINES)
def test_ud2(bins, engine):
    line = run_fault(bins, "bad_ud2", engine, 128 + 4)     # SIGILL
    pc = symbol(bins["bad_ud2"], "fault_pc")
    assert re.search(rf"\b(0x)?0*{pc:x}\b", line, re.I), line
    assert "ud2" in line.lower(), line


@pytest.mark.parametrize("engine", ENGINES)
def test_load_from_low_address(bins, engine):
    line = run_fault(bins, "bad_segv", engine, 128 + 11)   # SIGSEGV
    assert re.search(r"\b0x0*10\b", line, re.I), line


@pytest.mark.parametrize("engine", ENGINES)
def test_divide_by_zero(bins, engine):
    run_fault(bins, "bad_div0", engine, 128 + 8)            # SIGFPE


def test_unsupported_instruction_names_the_reason(tmp_path):
    """An instruction whose lifter refuses it (here rcpps, whose bits differ between CPU
    models) is reported as unsupported with dbt's reason, not as an illegal instruction."""
    src = tmp_path / "rcpps.S"
    src.write_text(".intel_syntax noprefix\n.globl _start\n_start:\n    rcpps xmm0, xmm1\n")
    got = guestbuild.run_dbt(guestbuild.build(src, tmp_path))
    line = one_error_line(got)
    assert got.returncode == 128 + 4
    assert "unsupported instruction" in line and "rcpps" in line and "CPU-specific" in line
