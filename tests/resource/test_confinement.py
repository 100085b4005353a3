"""Filesystem confinement with --root DIR: each escape attempt of src/escape.c (`..` from a
directory fd opened on the root, openat with dirfds, /proc/self/root, /proc/self/cwd and
/proc/self/fd/N tricks, host paths, symlink/mkdir/rename/link/truncate/unlink/chdir
outside) ends inside the root, as chroot(2) gives. EXPECTED lists each attempt with its
result under Linux chroot semantics (`..` at the root is the root; /proc/self links show
in-root paths); where `unshare -rm` works, a real chroot (with /proc bind-mounted in the
root) is run as the oracle too. The host directory above the root is never touched.
tests/linux/test_syscalls.py (rootjail.c) covers the plain `..` and symlink climbs."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import budgetkit  # noqa: E402
from budgetkit import ENGINES, run_dbt  # noqa: E402

ENOENT = "No such file or directory"
EXPECTED = [
    ('openat(root fd, ../secret.txt)', 'ROOT SECRET'),
    ('openat(root fd, ../../../secret.txt)', 'ROOT SECRET'),
    ('openat(openat(root fd, ..), secret.txt)', 'ROOT SECRET'),
    ('openat(sub fd, ../../secret.txt)', 'ROOT SECRET'),
    ('openat(sub fd, /proc/self/root/../secret.txt)', 'ROOT SECRET'),
    ('fchdir(root fd) then chdir ..', 'ok'),
    ('getcwd after that', '/'),
    ('readlink /proc/self/fd/<root fd>', '/'),
    ('/proc/self/fd/<root fd>/../secret.txt', 'ROOT SECRET'),
    ('/proc/self/fd/<sub fd>/../../secret.txt', 'ROOT SECRET'),
    ('readlink /proc/self/fd/<../../secret.txt>', '/secret.txt'),
    ('readlink /proc/self/root', '/'),
    ('/proc/self/root/../../secret.txt', 'ROOT SECRET'),
    ('chdir /proc/self/root/..', 'ok'),
    ('getcwd after that', '/'),
    ('chdir /sub', 'ok'),
    ('readlink /proc/self/cwd', '/sub'),
    ('/proc/self/cwd/../../secret.txt', 'ROOT SECRET'),
    ('readlink /proc/self/exe', '/prog'),
    ('chdir ../../..', 'ok'),
    ('getcwd after that', '/'),
    ('truncate ../victim.txt', ENOENT),
    ('truncate <host path of victim.txt>', ENOENT),
    ('chdir <host path of the outer directory>', ENOENT),
    ('symlink x ../../evil (lands in the root)', 'ok'),
    ('readlink /evil', 'x'),
    ('unlink /../evil', 'ok'),
    ('mkdir ../../made (lands in the root)', 'ok'),
    ('rmdir /../made', 'ok'),
    ('rename /secret.txt ../../moved', 'ok'),
    ('/moved', 'ROOT SECRET'),
    ('rename back', 'ok'),
    ('link /secret.txt /../../hard', 'ok'),
    ('unlink /hard', 'ok'),
    ('rename <host path of victim.txt> /v', ENOENT),
    ('unlink <host path of victim.txt>', ENOENT),
    ('rmdir ..', 'Directory not empty'),
    ('/proc/self/root/../../../etc/hostname', ENOENT),
]


@pytest.fixture(scope="module")
def prog(tmp_path_factory):
    return budgetkit.build("escape", tmp_path_factory.mktemp("escape"))


def make_root(base: Path, prog: Path) -> Path:
    """base/{secret.txt, victim.txt} outside; base/root/{prog, secret.txt, sub/, proc/} inside."""
    (base / "secret.txt").write_text("HOST SECRET\n")
    (base / "victim.txt").write_text("VICTIM\n")
    root = base / "root"
    for sub in ("sub", "proc"):
        (root / sub).mkdir(parents=True)
    (root / "secret.txt").write_text("ROOT SECRET\n")
    shutil.copy(prog, root / "prog")
    return root


def host_snapshot(base: Path) -> dict:
    return {p.name: p.read_bytes() for p in base.iterdir() if p.is_file()}


def rows(output: bytes) -> list[tuple[str, str]]:
    return [tuple(line.split(": ", 1)) for line in output.decode().splitlines()]


@pytest.mark.parametrize("engine", ENGINES)
def test_escapes_stay_in_the_root(prog, tmp_path, engine):
    base = tmp_path.resolve()
    root = make_root(base, prog)
    before = host_snapshot(base)
    run = run_dbt(root / "prog", [base], engine, ["--root", str(root)])
    assert (run.status, run.err) == (0, "")
    assert rows(run.out) == EXPECTED
    assert host_snapshot(base) == before and sorted(p.name for p in base.iterdir()) == sorted([*before, "root"])
    assert b"HOST SECRET" not in run.out and str(base).encode() not in run.out


def test_expectation_is_what_chroot_gives(prog, tmp_path):
    """The oracle: the same program under a real chroot (in a user and mount namespace)."""
    base = tmp_path.resolve()
    root = make_root(base, prog)
    script = f"mount --bind /proc {root}/proc && exec chroot {root} /prog {base}"
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed: EXPECTED stands on Linux's documented semantics")
    native = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, timeout=60)
    if native.returncode != 0 and not native.stdout:
        pytest.skip(f"no user namespaces here ({native.stderr.decode(errors='replace').strip()})")
    assert native.returncode == 0
    assert rows(native.stdout) == EXPECTED
