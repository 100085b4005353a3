"""The benchmark set: each program's source, sizes and build (static, -O2, glibc or musl).

Binaries are built at benchmark time into a cache directory, under a name keyed by the
source, the compiler and its flags, so an edited source or another compiler rebuilds; they
are never committed. Sizes scale the work: work grows as size ** work_exponent.
"""
import os
from dataclasses import dataclass
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "programs"
COMPILERS = {"glibc": "gcc", "musl": "musl-gcc"}
C_FLAGS = ("-O2", "-static")
PACKAGE_OF = {"gcc": "gcc", "musl-gcc": "musl-tools"}


class BenchSetupError(Exception):
    """The set cannot be prepared: a missing source or compiler, or a failed build."""


@dataclass(frozen=True)
class Program:
    name: str
    size: int              # argv[1] at scale 1 under native, qemu and dbt jit (~0.2-0.7 s natively)
    interp_size: int       # argv[1] at scale 1 under dbt interp (~1 M guest instructions)
    work_exponent: int = 1

    def scaled(self, size: int, scale: float) -> int:
        return max(1, round(size * scale ** (1 / self.work_exponent)))


PROGRAMS = {p.name: p for p in (
    Program("sieve", 30_000_000, 60_000),
    Program("sha256", 12_288, 4),
    Program("matmul", 500, 40, work_exponent=3),
    Program("fib", 6_000, 1),
    Program("qsort", 1_500_000, 2_500),
    Program("strings", 1_000_000, 400),
    Program("mixed", 40_000, 20),
)}


def compiler_path(libc: str) -> str:
    import shutil                         # here, as subprocess in build_key
    compiler = shutil.which(COMPILERS[libc])
    if compiler is None:
        raise BenchSetupError(f"{COMPILERS[libc]} is needed to build the {libc} benchmarks "
                              f"(Debian: apt-get install {PACKAGE_OF[COMPILERS[libc]]})")
    return compiler


def build_key(source: bytes, compiler: str) -> str:
    import hashlib                        # here: `dbt run` imports this module, and never runs it
    import subprocess
    version = subprocess.run([compiler, "--version"], capture_output=True).stdout
    digest = hashlib.sha256()
    for part in (source, compiler.encode(), version, " ".join(C_FLAGS).encode()):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:16]


def build(program: Program, libc: str, cache_dir: Path, source_dir: Path = SOURCE_DIR) -> Path:
    """The static binary of `program` for `libc`, built into cache_dir unless already there."""
    source = source_dir / f"{program.name}.c"
    if not source.is_file():
        raise BenchSetupError(f"benchmark source {source} is missing")
    compiler = compiler_path(libc)
    out = cache_dir / f"{program.name}-{libc}-{build_key(source.read_bytes(), compiler)}"
    if out.is_file():
        return out
    cache_dir.mkdir(parents=True, exist_ok=True)
    import tempfile
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=f".{out.name}.")
    os.close(fd)
    cmd = [compiler, *C_FLAGS, "-o", tmp, str(source)]
    import subprocess
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        os.unlink(tmp)
        first = (proc.stderr.strip().splitlines() or ["no message"])[0]
        raise BenchSetupError(f"building {source.name} for {libc} failed: {first}")
    os.replace(tmp, out)                     # atomic: a concurrent bench sees all or nothing
    return out


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dbt" / "bench"
