"""The Linux syscall layer against reality: small C programs (tests/linux/src),
built at test time with musl-gcc (and gcc/glibc), must print the same bytes
and exit with the same status under dbt as natively. --root confinement is
checked against chroot(2) run natively (when the tests run as root) and
against the host files it must leave alone; --strace against its format (and
qemu-x86_64 -strace's syscall sequence when qemu is installed).
"""
import fcntl
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from dbt.runtime.linux.fdtable import FdTable
from dbt.runtime.linux.paths import PathResolver
from dbt.runtime.linux.vma import AddressSpace, SharedFile
from dbt.runtime.memory import GuestMemory

REPO = Path(__file__).resolve().parents[2]
SRC = Path(__file__).resolve().parent / "src"
TIMEOUT = 600
SMALL = ["fileio", "procinfo", "pipes"]          # also run under --engine interp
UNSUPPORTED = re.compile(rb"unsupported instruction")


def status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def build(compiler: str, src: Path, out: Path) -> Path:
    tool = shutil.which(compiler)
    if tool is None:
        pytest.skip(f"{compiler} is not installed")
    proc = subprocess.run([tool, "-O2", "-static", "-o", str(out), str(src)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"building {src.name} with {compiler} failed:\n{proc.stderr}")
    return out


@pytest.fixture(scope="module")
def bins(tmp_path_factory):
    """bins(name, libc) -> a binary built once per module."""
    outdir = tmp_path_factory.mktemp("linuxbin")
    cache = {}

    def get(name: str, libc: str = "musl") -> Path:
        if (name, libc) not in cache:
            compiler = "musl-gcc" if libc == "musl" else "gcc"
            cache[name, libc] = build(compiler, SRC / f"{name}.c", outdir / f"{name}-{libc}")
        return cache[name, libc]
    return get


def run_dbt(prog, args=(), engine="jit", options=(), env=None, cwd=REPO):
    cmd = [sys.executable, "-m", "dbt", "run", "--engine", engine, *options, str(prog), *map(str, args)]
    full_env = dict(os.environ if env is None else env)
    full_env["PYTHONPATH"] = str(REPO)
    return subprocess.run(cmd, capture_output=True, timeout=TIMEOUT, cwd=cwd, env=full_env)


def check_same(native, got):
    if got.returncode != status(native.returncode) and UNSUPPORTED.search(got.stderr):
        pytest.xfail("the guest died on an instruction dbt does not lift yet: "
                     + got.stderr.decode(errors="replace").strip())
    assert b"Traceback" not in got.stderr, got.stderr.decode(errors="replace")
    assert got.stdout.decode(errors="replace") == native.stdout.decode(errors="replace")
    assert got.returncode == status(native.returncode), got.stderr.decode(errors="replace")


# -- programs against their native run ------------------------------------------------------
CASES = ([(name, "musl", "jit") for name in SMALL + ["memory"]]
         + [(name, "musl", "interp") for name in SMALL]
         + [(name, "glibc", "jit") for name in SMALL + ["memory"]])


@pytest.mark.parametrize("name,libc,engine", CASES)
def test_matches_native(name, libc, engine, bins, tmp_path):
    prog = bins(name, libc)
    args_native, args_dbt = (), ()
    if name == "fileio":                 # a fresh directory for each run
        (tmp_path / "native").mkdir()
        (tmp_path / "dbt").mkdir()
        args_native, args_dbt = (tmp_path / "native",), (tmp_path / "dbt",)
    native = subprocess.run([str(prog), *map(str, args_native)], capture_output=True, timeout=TIMEOUT)
    assert native.returncode == 0, native.stderr
    check_same(native, run_dbt(prog, args_dbt, engine))


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_sigpipe_default_action(engine, bins):
    prog = bins("pipes")
    native = subprocess.run([str(prog), "sigpipe"], capture_output=True, timeout=TIMEOUT)
    got = run_dbt(prog, ["sigpipe"], engine)
    check_same(native, got)
    assert status(native.returncode) == 141
    assert got.stderr == b""           # a broken pipe ends quietly


# -- --root ---------------------------------------------------------------------------------
def make_jail(base: Path, prog: Path, with_proc: bool = False) -> Path:
    """base/{secret.txt,victim.txt} outside; base/root the root, with symlinks that point out."""
    (base / "secret.txt").write_text("HOST SECRET\n")
    (base / "victim.txt").write_text("VICTIM\n")
    root = base / "root"
    (root / "sub").mkdir(parents=True)
    (root / "secret.txt").write_text("ROOT SECRET\n")
    (root / "inside.txt").write_text("INSIDE\n")
    os.symlink("/secret.txt", root / "abslink")
    os.symlink("/..", root / "absdir")
    os.symlink("../secret.txt", root / "rel")
    os.symlink("../../../../secret.txt", root / "sub" / "rel2")
    os.symlink("..", root / "sub" / "up")
    os.symlink(str(base / "secret.txt"), root / "hostlink")
    shutil.copy(prog, root / "prog")
    if with_proc:
        (root / "proc").mkdir()
    return root


def host_untouched(base: Path) -> None:
    assert (base / "victim.txt").read_text() == "VICTIM\n"
    assert (base / "secret.txt").read_text() == "HOST SECRET\n"
    assert sorted(p.name for p in base.iterdir()) == ["root", "secret.txt", "victim.txt"]
    assert (base / "root" / "inside.txt").read_text() == "INSIDE\n"


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_root_confinement(engine, bins, tmp_path):
    """Each escape attempt (.. climbing, absolute and relative symlinks, openat with a dirfd,
    host paths, /proc/self/root, rename/unlink/link/mkdir/create outside) stays in the root."""
    base = tmp_path.resolve()
    root = make_jail(base, bins("rootjail"))
    got = run_dbt(root / "prog", [base], engine, ["--root", str(root)])
    assert got.returncode == 0, got.stderr.decode(errors="replace")
    out = got.stdout.decode()
    host_untouched(base)
    assert "HOST SECRET" not in out and "VICTIM" not in out
    lines = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in out.splitlines()
                 if not line.startswith("ls "))
    assert lines["../../../../secret.txt"] == "ROOT SECRET"
    assert lines["host path of outer secret"] == "ENOENT"
    assert lines["rename ../victim.txt"] == "ENOENT"
    assert lines["/proc/self/root/secret.txt"] == "ENOENT"     # the root has no /proc
    if os.geteuid() == 0 and shutil.which("chroot"):
        native = subprocess.run(["chroot", str(root), "/prog", str(base)], capture_output=True, timeout=TIMEOUT)
        assert out == native.stdout.decode()
        host_untouched(base)


def test_root_proc_self(bins, tmp_path):
    """With a /proc in the root, /proc/self is the guest's: exe is the in-root path, root is /,
    cwd the guest cwd, fd/N the guest's file (as chroot with proc mounted inside shows)."""
    base = tmp_path.resolve()
    root = make_jail(base, bins("rootjail"), with_proc=True)
    got = run_dbt(root / "prog", [base, "proc"], "jit", ["--root", str(root)])
    assert got.returncode == 0, got.stderr.decode(errors="replace")
    lines = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in got.stdout.decode().splitlines()
                 if not line.startswith("ls "))
    assert lines["/proc/self/root/secret.txt"] == "ROOT SECRET"
    assert lines["readlink /proc/self/exe"] == "/prog"
    assert lines["open /proc/self/exe"] == "ELF"
    assert lines["readlink /proc/self/root"] == "/"
    assert lines["readlink /proc/self/cwd"] == "/sub"
    assert lines["/proc/self/cwd/../secret.txt"] == "ROOT SECRET"
    assert lines["/proc/self/root/../secret.txt"] == "ROOT SECRET"
    assert lines["readlink /proc/self/fd/N"] == "/secret.txt"
    assert lines["open /proc/self/fd/N"] == "ROOT SECRET"
    host_untouched(base)


def test_resolver_escapes(tmp_path):
    """The resolver itself: every host path it returns lies inside the root."""
    base = tmp_path.resolve()
    root = make_jail(base, Path(sys.executable))
    fds = FdTable()
    paths = PathResolver(str(root), str(root / "prog"), fds)
    inside = os.fsencode(root)
    for path in [b"/../../secret.txt", b"abslink", b"absdir/secret.txt", b"rel", b"sub/rel2",
                 b"sub/up/sub/up/../secret.txt", os.fsencode(base / "secret.txt"), b"hostlink",
                 b"/proc/self/root/secret.txt", b"../victim.txt", b"/.."]:
        for follow in (True, False):
            try:
                res = paths.resolve(b"/", path, follow)
            except OSError:
                continue
            assert res.host == inside or res.host.startswith(inside + b"/"), (path, res)
    assert paths.resolve(b"/", b"/..").guest == b"/"
    assert paths.resolve(b"/sub", b"up/rel").host == inside + b"/secret.txt"


def test_proc_self_mem_refused(tmp_path):
    """/proc/self/mem would reach dbt's own memory: refused (EACCES) without --root."""
    paths = PathResolver(None, sys.executable, FdTable())
    with pytest.raises(PermissionError):
        paths.resolve(b"/", b"/proc/self/mem")
    with pytest.raises(PermissionError):
        paths.resolve(b"/", b"/proc/%d/task/%d/mem" % (os.getpid(), os.getpid()))
    assert paths.readlink(paths.resolve(b"/", b"/proc/self/exe", False)) == os.fsencode(os.path.realpath(sys.executable))


def test_mmap_area_stays_below_stack():
    mem = GuestMemory(1 << 32)
    vm = AddressSpace(mem, 0x10000, 1 << 31)
    vm.map((1 << 32) - (1 << 20), 1 << 32, 3, "[stack]")
    first = vm.find_free(1 << 20)
    assert first == (1 << 31) - (1 << 20)
    vm.map(first, first + (1 << 20), 3)
    second = vm.find_free(1 << 20)
    assert second + (1 << 20) <= first
    vm.protect(first, first + 4096, 1)
    vm.protect(first, first + 4096, 3)
    assert len([a for a in vm.areas if a.start >= first and a.end <= first + (1 << 20)]) == 1
    mem.close()


def test_shared_file_area_keeps_its_fd_until_the_last_page_goes(tmp_path):
    """The host fd behind a MAP_SHARED area lives as long as some part of the area does."""
    mem = GuestMemory(1 << 32)
    vm = AddressSpace(mem, 0x10000, 1 << 31)
    path = tmp_path / "file"
    path.write_bytes(b"a" * 8192)
    fd = os.open(path, os.O_RDWR)
    shared = SharedFile.of(fd, 0, True)
    os.close(fd)
    vm.map(0x100000, 0x102000, 3, "file", shared)
    mem.write(0x101000, b"XY")
    assert path.read_bytes()[4096:4098] == b"XY"
    vm.protect(0x101000, 0x102000, 1)
    vm.protect(0x101000, 0x102000, 3)
    assert len(vm.areas) == 1
    vm.unmap(0x100000, 0x101000)
    os.fstat(shared.fd)
    vm.unmap(0x101000, 0x102000)
    with pytest.raises(OSError):
        os.fstat(shared.fd)
    vm.map(0x101000, 0x102000, 3)
    assert mem.read(0x101000, 2) == b"\0\0" and path.read_bytes()[4096:4098] == b"XY"
    mem.close()


def test_tty_ioctls(bins):
    """TCGETS/TCSETS/TIOCGWINSZ reach the host terminal (a pty here) as natively."""
    prog = bins("tty")

    def on_pty(cmd):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        try:
            proc = subprocess.run(cmd, stdin=slave, stdout=slave, stderr=slave, timeout=TIMEOUT, cwd=REPO,
                                  env=dict(os.environ, PYTHONPATH=str(REPO)))
        finally:
            os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:          # EIO: the pty's other side is closed
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        return proc.returncode, out

    native = on_pty([str(prog)])
    got = on_pty([sys.executable, "-m", "dbt", "run", str(prog)])
    assert got == native
    assert b"30x100" in native[1]


def test_futex_deadlock_ends_the_run(bins):
    """A futex wait with no other thread and no timeout would hang forever: one line, status 137."""
    got = run_dbt(bins("procinfo"), ["deadlock"])
    assert got.returncode == 137
    assert got.stderr.decode().strip().startswith("dbt: guest deadlocked: futex wait on 0x")


# -- --strace, -E/-U -----------------------------------------------------------------------------
def test_strace_format(bins):
    prog = bins("stracedemo")
    got = run_dbt(prog, (), "jit", ["--strace"])
    assert got.stdout == b"hi\n"
    assert got.returncode == 3
    lines = got.stderr.decode().splitlines()
    pid = r"\d+ "
    expected = [
        pid + r"write\(1,0x[0-9a-f]+,3\) = 3",
        pid + r'openat\(AT_FDCWD,"/nonexistent/file",0x0,0o0\) = -1 errno=2 ENOENT \(No such file or directory\)',
        pid + r"close\(12345\) = -1 errno=9 EBADF \(Bad file descriptor\)",
        pid + r"exit_group\(3\)",
    ]
    assert lines[-4:] and all(re.fullmatch(e, line) for e, line in zip(expected, lines[-4:])), lines
    assert all(re.match(pid + r"\w+\(.*\)( = .*)?$", line) for line in lines), lines
    if shutil.which("qemu-x86_64"):
        qemu = subprocess.run(["qemu-x86_64", "-strace", str(prog)], capture_output=True, timeout=TIMEOUT)
        names = [re.match(r"\d+ (\w+)\(", line).group(1) for line in lines]
        qemu_names = [m.group(1) for m in re.finditer(rb"^\d+ (\w+)\(", qemu.stderr, re.M)]
        assert names == [n.decode() for n in qemu_names]


def test_environment_edits(bins):
    prog = bins("envshow")
    env = dict(os.environ, DBT_T_KEEP="kept", DBT_T_DROP="dropped")
    names = ["DBT_T_KEEP", "DBT_T_DROP", "DBT_T_NEW", "DBT_T_TWICE"]
    got = run_dbt(prog, names, "jit", ["-E", "DBT_T_NEW=a=b", "-U", "DBT_T_DROP", "-E", "DBT_T_TWICE=1",
                                       "-E", "DBT_T_TWICE=2"], env=env)
    native_env = dict(env, DBT_T_NEW="a=b", DBT_T_TWICE="2")
    del native_env["DBT_T_DROP"]
    native = subprocess.run([str(prog), *names], capture_output=True, env=native_env, timeout=TIMEOUT)
    check_same(native, got)


def test_dynamically_linked_program_is_refused(tmp_path):
    """Issue #3: a PT_INTERP program gets one clear line and status 126 (it runs natively)."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    prog = tmp_path / "dynamic"
    subprocess.run([gcc, "-O2", "-o", str(prog), str(SRC / "envshow.c")], check=True, capture_output=True)
    assert subprocess.run([str(prog)], capture_output=True, timeout=TIMEOUT).returncode == 0
    got = run_dbt(prog)
    assert (got.returncode, got.stdout) == (126, b"")
    assert got.stderr.decode().splitlines() == [f"dbt: {prog}: dynamically linked programs are not supported yet"]
