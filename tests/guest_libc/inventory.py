"""What dbt still lacks to run the libc guests and busybox: a report for planning, not a test.

    python tests/guest_libc/inventory.py [-o REPORT.md] [--only SUBSTRING] [--no-qemu] [--dbt-root DIR]

Two sources, each complete in its own way:
1. dbt itself. Every case of test_libc_programs.py and test_busybox.py runs
   under `--engine jit` (full size) and `--engine interp` (small size), with
   `--strace` when dbt has it. For each run: pass, or the first failure (the
   unsupported instruction with its bytes, the signal, the internal error, the
   first differing output line), and every syscall that returned ENOSYS.
2. qemu-x86_64 as the reference. With a CPU model that reports dbt's CPUID
   (so libc picks the same code paths), `-d in_asm` lists every instruction
   the guest executes and `-strace` every syscall it makes. Each executed
   instruction is trial-lifted by dbt's translator and each syscall looked up
   in dbt's table, so this lists everything missing, not just the first hit.
Run it from anywhere; it never edits dbt. --dbt-root runs the dbt package
found in DIR (say, a copy of dbt/ taken while others are editing it).
"""
import argparse
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import libc_cases  # noqa: E402
import libcbuild  # noqa: E402

UNISTD = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")

# "... unsupported instruction at pc 0x401000 (d9 f3: fpatan; why it is not lifted)"
UNSUPPORTED = re.compile(r"(?:unsupported|illegal) instruction at pc (0x[0-9a-f]+) \(([0-9a-f ]+): (.*)\)$", re.M)
KILLED = re.compile(r"^dbt: guest killed by (SIG\w+): (.*)$", re.M)
INTERNAL = re.compile(r"^dbt: internal error: (.*)$", re.M)
STRACE_ENOSYS = re.compile(r"^\d+ (\w+)\(.*\) = -1 errno=38\b", re.M)
STRACE_CALL = re.compile(r"^\d+ (\w+)\(", re.M)
QEMU_UNKNOWN = re.compile(r"^\d+ Unknown syscall (\d+)", re.M)
# "0xADDR:  bytes  mnemonic operands"; long encodings continue on a line of bytes only.
QEMU_INSN = re.compile(r"^0x([0-9a-f]+):[ \t]+(?:[0-9a-f]{2} )*[0-9a-f]{2}[ \t]{2,}[a-z]", re.M)

# CPUID bits (leaf, register index eax=0..edx=3, bit) -> qemu -cpu feature name.
QEMU_FEATURES = {
    (1, 2, 0): "pni", (1, 2, 1): "pclmulqdq", (1, 2, 9): "ssse3", (1, 2, 12): "fma",
    (1, 2, 13): "cx16", (1, 2, 19): "sse4.1", (1, 2, 20): "sse4.2", (1, 2, 22): "movbe",
    (1, 2, 23): "popcnt", (1, 2, 25): "aes", (1, 2, 26): "xsave", (1, 2, 28): "avx",
    (1, 2, 29): "f16c", (1, 2, 30): "rdrand",
    (7, 1, 3): "bmi1", (7, 1, 5): "avx2", (7, 1, 8): "bmi2", (7, 1, 9): "erms",
    (7, 1, 16): "avx512f", (7, 1, 18): "rdseed", (7, 1, 19): "adx", (7, 1, 29): "sha-ni",
    (7, 3, 4): "fsrm",
    (0x80000001, 2, 0): "lahf-lm", (0x80000001, 2, 5): "abm", (0x80000001, 2, 6): "sse4a",
    (0x80000001, 2, 8): "3dnowprefetch", (0x80000001, 3, 27): "rdtscp",
}


@dataclass
class Target:
    """One guest run to inventory: a program for one libc, or one busybox applet."""
    id: str
    prog: Path
    args: tuple = ()
    stdin: bytes = b""
    small_args: tuple | None = None      # None: no interp run
    small_stdin: bytes = b""


@dataclass
class DbtRun:
    target: str
    engine: str
    verdict: str                          # pass | unsupported | killed | internal | timeout | mismatch
    detail: str = ""
    mnemonic: str = ""                    # for unsupported
    enosys: list = field(default_factory=list)


@dataclass
class Coverage:
    target: str
    insns: list                           # executed instruction addresses, in first-translation order
    syscalls: Counter                     # name -> calls
    unknown_syscalls: set


# -- the cases ---------------------------------------------------------------------
def targets(outdir: Path, data: Path, only: str) -> list[Target]:
    found = []
    for case in libc_cases.CASES:
        for libc in libcbuild.LIBCS:
            tid = f"{case.name}-{libc}"
            if only and only not in tid:
                continue
            prog = libcbuild.build(case.name, libc, outdir)
            found.append(Target(tid, prog, case.args, case.stdin, case.small_args, case.small_stdin))
    for applet in libc_cases.BUSYBOX_CASES:
        tid = f"busybox-{applet.id}"
        if only and only not in tid:
            continue
        args = tuple(a.replace("{d}", str(data)) for a in applet.argv)
        small = args if applet.id in libc_cases.BUSYBOX_INTERP else None
        found.append(Target(tid, Path(libc_cases.BUSYBOX), args, applet.stdin, small, applet.stdin))
    return found


# -- source 1: dbt ----------------------------------------------------------------
def dbt_has_strace(root: Path) -> bool:
    proc = subprocess.run([*libcbuild.dbt_command(), "--help"], capture_output=True, text=True, cwd=root)
    return "--strace" in proc.stdout


def run_dbt(target: Target, engine: str, strace: bool, root: Path) -> DbtRun:
    """The verdict of one run as the tests see it, plus the ENOSYS syscalls of a --strace run."""
    small = engine == "interp"
    args = target.small_args if small else target.args
    stdin = target.small_stdin if small else target.stdin
    native = libcbuild.run_guest(target.prog, args, stdin)
    got = traced = libcbuild.run_guest(target.prog, args, stdin, engine=engine,
                                       extra=("--strace",) if strace else (), dbt_root=root)
    if strace:
        # The strace lines share stderr with the guest's own: judge the run on stdout and
        # status, and judge it again without --strace if it fails (--strace may be the cause).
        lines = traced.stderr.decode(errors="replace").splitlines()
        err = "\n".join(line for line in lines if not re.match(r"^\d+ ", line))
        got = libcbuild.Result(traced.stdout, err.encode(), traced.status, traced.timed_out)
        if libcbuild.mismatch(native, got):
            got = libcbuild.run_guest(target.prog, args, stdin, engine=engine, dbt_root=root)
    enosys = sorted(set(STRACE_ENOSYS.findall(traced.stderr.decode(errors="replace")))) if strace else []
    return verdict(DbtRun(target.id, engine, "pass", enosys=enosys), native, got)


def verdict(run: DbtRun, native, got) -> DbtRun:
    why = libcbuild.mismatch(native, got)
    if why is None:
        return run
    err = got.stderr.decode(errors="replace")
    if m := UNSUPPORTED.search(err):
        text, _, why = m[3].partition(";")
        run.verdict, run.mnemonic = "unsupported", text.split()[0]
        run.detail = f"{text.strip()} [{m[2]}] at {m[1]}" + (f" ({why.strip()})" if why else "")
    elif m := INTERNAL.search(err):
        run.verdict, run.detail = "internal", m[1]
    elif got.timed_out:
        run.verdict, run.detail = "timeout", f"after {libcbuild.TIMEOUT}s"
    elif m := KILLED.search(err):
        run.verdict, run.detail = "killed", f"{m[1]}: {m[2]}"
    else:
        run.verdict = "mismatch"
        run.detail = " / ".join(why.splitlines())
    return run


# -- source 2: qemu ---------------------------------------------------------------
def qemu_cpu() -> str:
    """A qemu -cpu model whose CPUID answers as dbt's does, for the bits libc looks at."""
    from dbt.frontend.x86.sem_system import CPUID_LEAVES
    leaves = CPUID_LEAVES

    def reg(leaf, index):
        return leaves.get(leaf, (0, 0, 0, 0))[index]
    vendor = b"".join(reg(0, i).to_bytes(4, "little") for i in (1, 3, 2)).decode("latin-1")
    eax1 = reg(1, 0)
    family = ((eax1 >> 8) & 0xF) + ((eax1 >> 20) & 0xFF)
    model = ((eax1 >> 4) & 0xF) | (((eax1 >> 16) & 0xF) << 4)
    opts = [f"vendor={vendor}", f"level={reg(0, 0)}", f"xlevel={reg(0x80000000, 0) or 0x80000001:#x}",
            f"family={family}", f"model={model}", f"stepping={eax1 & 0xF}"]
    for (leaf, index, bit), name in QEMU_FEATURES.items():
        opts.append(("+" if reg(leaf, index) >> bit & 1 else "-") + name)
    return "qemu64," + ",".join(opts)


def run_qemu(target: Target, cpu: str) -> Coverage:
    with tempfile.TemporaryDirectory(prefix="dbt-inv-") as scratch:
        log = Path(scratch) / "in_asm.log"
        args = [scratch if a == libcbuild.DIR_ARG else a for a in target.args]
        cmd = ["qemu-x86_64", "-cpu", cpu, "-d", "in_asm", "-D", str(log), "-strace", str(target.prog), *args]
        libcbuild.run(cmd, target.stdin)     # with -D, -strace writes to the log too
        text = log.read_text(errors="replace") if log.exists() else ""
    seen, order = set(), []
    for m in QEMU_INSN.finditer(text):
        addr = int(m[1], 16)
        if addr not in seen:
            seen.add(addr)
            order.append(addr)
    return Coverage(target.id, order, Counter(STRACE_CALL.findall(text)),
                    {int(n) for n in QEMU_UNKNOWN.findall(text)})


class Image:
    """The bytes of a static ELF's loaded segments, by virtual address."""

    def __init__(self, path: Path):
        from elftools.elf.elffile import ELFFile
        self.segments = []
        with open(path, "rb") as f:
            for seg in ELFFile(f).iter_segments():
                if seg["p_type"] == "PT_LOAD":
                    self.segments.append((seg["p_vaddr"], seg.data()))

    def fetch(self, addr: int) -> bytes:
        for base, data in self.segments:
            if base <= addr < base + len(data):
                return data[addr - base:addr - base + 16]
        return b""


class LiftProbe:
    """Trial-lifts single instructions with dbt's translator; remembers each verdict."""

    def __init__(self):
        from capstone import CS_ARCH_X86, CS_MODE_64, Cs
        from dbt.frontend.x86.translate import Translator
        self.cs = Cs(CS_ARCH_X86, CS_MODE_64)
        self.translator_class = Translator
        self.verdicts = {}                # bytes -> (mnemonic, text, problem or None, bytes)

    def check(self, raw: bytes, addr: int):
        insn = next(self.cs.disasm(raw, addr, 1), None)
        if insn is None:
            return None
        key = bytes(insn.bytes)
        if key not in self.verdicts:
            text = f"{insn.mnemonic} {insn.op_str}".strip()
            translator = self.translator_class(lambda pc: key + b"\x90" * 16)
            try:
                block = translator.translate(addr, max_insns=1)
                problem = None if block.ninsns == 1 else "unsupported"
            except Exception as e:      # a lifter bug: record it, keep going
                problem = f"lifter error {type(e).__name__}: {e}"
            self.verdicts[key] = (insn.mnemonic, text, problem, key)
        return self.verdicts[key]


# -- the report ---------------------------------------------------------------------
def syscall_numbers() -> dict[str, int]:
    table = {}
    for m in re.finditer(r"#define __NR_(\w+)\s+(\d+)", UNISTD.read_text() if UNISTD.exists() else ""):
        table[m[1]] = int(m[2])
    return table


def dbt_syscalls() -> set[int]:
    from dbt.runtime.linux import syscalls
    return set(syscalls.SYSCALLS)


def report(runs: list[DbtRun], coverage: list[Coverage], targets_by_id: dict, strace: bool, out) -> None:
    p = lambda *a: print(*a, file=out)      # noqa: E731
    p("# dbt Linux user mode: inventory of the libc guests and busybox\n")
    by_engine = defaultdict(list)
    for r in runs:
        by_engine[r.engine].append(r)
    for engine, rs in by_engine.items():
        verdicts = Counter(r.verdict for r in rs)
        p(f"- {engine}: {verdicts['pass']}/{len(rs)} pass; " +
          ", ".join(f"{v} {n}" for v, n in sorted(verdicts.items()) if v != "pass"))
    p("\n## First failure of each run\n")
    p("| case | engine | verdict | first failure |\n|---|---|---|---|")
    for r in runs:
        p(f"| {r.target} | {r.engine} | {r.verdict} | {r.detail.replace('|', '/')} |")

    p("\n## Unsupported instructions, first hit of each run (dbt)\n")
    first = Counter(r.mnemonic for r in runs if r.verdict == "unsupported")
    example = {r.mnemonic: r.detail for r in runs if r.verdict == "unsupported"}
    p("| mnemonic | runs | example |\n|---|---|---|")
    for mnem, n in first.most_common():
        p(f"| {mnem} | {n} | {example[mnem]} |")

    enosys = defaultdict(set)
    for r in runs:
        for name in r.enosys:
            enosys[name].add(r.target)
    numbers = syscall_numbers()
    p("\n## Syscalls that returned ENOSYS under dbt (--strace)\n")
    if not strace:
        p("(dbt has no --strace yet: none recorded)")
    for name, users in sorted(enosys.items(), key=lambda kv: -len(kv[1])):
        p(f"- {name} ({numbers.get(name, '?')}): {len(users)} cases: {', '.join(sorted(users))}")

    if coverage:
        coverage_report(coverage, targets_by_id, numbers, p)


def coverage_report(coverage: list[Coverage], targets_by_id: dict, numbers: dict, p) -> None:
    probe = LiftProbe()
    images = {}
    missing_progs = defaultdict(set)       # mnemonic -> cases
    missing_sites = Counter()              # mnemonic -> distinct addresses
    missing_example = {}
    lifter_errors = {}
    first_missing = {}
    for cov in coverage:
        prog = targets_by_id[cov.target].prog
        image = images.setdefault(prog, Image(prog))
        for addr in cov.insns:
            verdict = probe.check(image.fetch(addr), addr)
            if verdict is None or verdict[2] is None:
                continue
            mnem, text, problem, raw = verdict
            missing_progs[mnem].add(cov.target)
            missing_sites[mnem] += 1
            missing_example.setdefault(mnem, f"{text} [{raw.hex(' ')}]")
            first_missing.setdefault(cov.target, f"{text} at {addr:#x}")
            if problem != "unsupported":
                lifter_errors[text] = problem
    p("\n## Every executed instruction dbt cannot lift (qemu reference run)\n")
    p(f"{sum(len(c.insns) for c in coverage)} executed instruction sites in {len(coverage)} runs; "
      f"{len(probe.verdicts)} distinct encodings trial-lifted, "
      f"{sum(1 for v in probe.verdicts.values() if v[2])} of them not liftable.\n")
    p("| mnemonic | cases | sites | example | some cases |\n|---|---|---|---|---|")
    for mnem in sorted(missing_progs, key=lambda m: (-len(missing_progs[m]), -missing_sites[m], m)):
        some = ", ".join(sorted(missing_progs[mnem])[:4]) + (", ..." if len(missing_progs[mnem]) > 4 else "")
        p(f"| {mnem} | {len(missing_progs[mnem])} | {missing_sites[mnem]} | {missing_example[mnem]} | {some} |")
    if lifter_errors:
        p("\nLifter errors (an exception, not a clean 'unsupported'):")
        for text, problem in sorted(lifter_errors.items()):
            p(f"- `{text}`: {problem}")
    p("\nPredicted first unsupported instruction of each case (qemu's execution order):\n")
    for cov in coverage:
        p(f"- {cov.target}: {first_missing.get(cov.target, 'none')}")

    have = dbt_syscalls()
    users = defaultdict(set)
    for cov in coverage:
        for name in cov.syscalls:
            users[name].add(cov.target)
        for n in cov.unknown_syscalls:     # qemu names none of these
            name = next((k for k, v in numbers.items() if v == n), f"#{n}")
            users[name].add(cov.target)
    p("\n## Syscalls the guests make (qemu -strace), and whether dbt's table has them\n")
    p("| syscall | number | in dbt | cases |\n|---|---|---|---|")
    for name in sorted(users, key=lambda n: (numbers.get(n, 999) in have, -len(users[n]), n)):
        num = numbers.get(name)
        mark = "yes" if num in have else "**no**"
        p(f"| {name} | {num if num is not None else '?'} | {mark} | {len(users[name])} |")


# -- main ---------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", help="write the report here (default stdout)")
    ap.add_argument("--only", default="", help="only cases whose id contains this")
    ap.add_argument("--no-qemu", action="store_true", help="skip the qemu reference runs")
    ap.add_argument("--no-dbt", action="store_true", help="skip the dbt runs")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--dbt-root", type=Path, default=libcbuild.REPO,
                    help="the directory holding the dbt package to use (default: this repository)")
    ns = ap.parse_args()
    root = ns.dbt_root.resolve()
    sys.path.insert(0, str(root))             # dbt's translator, CPUID and syscall table from there too

    with tempfile.TemporaryDirectory(prefix="dbt-inventory-") as tmp:
        outdir, data = Path(tmp) / "bin", Path(tmp) / "data"
        outdir.mkdir()
        data.mkdir()
        libc_cases.busybox_files(data)
        found = targets(outdir, data, ns.only)
        strace = dbt_has_strace(root)
        jobs = []
        with concurrent.futures.ThreadPoolExecutor(ns.jobs) as pool:
            if not ns.no_dbt:
                for t in found:
                    jobs.append(pool.submit(run_dbt, t, "jit", strace, root))
                    if t.small_args is not None:
                        jobs.append(pool.submit(run_dbt, t, "interp", strace, root))
            cov_jobs = [] if ns.no_qemu else [pool.submit(run_qemu, t, qemu_cpu()) for t in found]
            runs = [j.result() for j in jobs]
            coverage = [j.result() for j in cov_jobs]
        runs.sort(key=lambda r: (r.target, r.engine))
        out = open(ns.output, "w") if ns.output else sys.stdout
        try:
            report(runs, coverage, {t.id: t for t in found}, strace, out)
        finally:
            if out is not sys.stdout:
                out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
