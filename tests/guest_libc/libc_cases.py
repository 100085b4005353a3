"""What each guest is run with: the programs of src/ at full size (jit) and
small (interp), and the busybox applets with their input files.

The interpreter runs a few hundred thousand guest instructions a second, so
its runs use the small arguments: each stays under about two million
instructions, glibc's start-up included.
"""
import gzip
from dataclasses import dataclass
from pathlib import Path

from libcbuild import DIR_ARG


def filter_input(lines: int) -> bytes:
    """Deterministic text for filter.c: words, runs of blanks, tabs, empty lines, no final newline."""
    words = ["alpha", "Bravo", "charlie", "DELTA", "echo", "fox-trot", "golf42", "hotel", "\u00e9t\u00e9"]
    out = []
    for i in range(lines):
        if i % 7 == 3:
            out.append("")
            continue
        n = 1 + (i * 5) % 11
        sep = "\t" if i % 4 == 0 else " " * (1 + i % 3)
        out.append(sep.join(words[(i + j * j) % len(words)] for j in range(n)))
    return "\n".join(out).encode()


@dataclass(frozen=True)
class Case:
    name: str                              # src/<name>.c
    args: tuple[str | bytes, ...] = ()     # for the jit run
    small_args: tuple[str | bytes, ...] = ()   # for the interp run
    stdin: bytes = b""
    small_stdin: bytes = b""


CASES = [
    Case("hello"),
    Case("printf_fmt", small_args=("quick",)),
    Case("malloc_churn", ("30000", "140000"), ("150", "2000")),
    Case("sort_search", ("100000",), ("100",)),
    Case("fileio", (DIR_ARG,), (DIR_ARG, "5")),
    Case("args_env", ("one", "two words", "", "\u00fcn\u00efcode", b"\xff\xfe not UTF-8", "-x", "--flag=1"),
         ("one", "", "three")),
    Case("math_fp", ("64",), ("4",)),
    Case("fenv_fp", ("16",), ("0",)),
    Case("jmp"),
    Case("signals", small_args=("0",)),
    Case("time_rand"),
    Case("bigmmap", ("256",), ("1",)),
    Case("recurse", ("100000",), ("2000",)),
    Case("filter", stdin=filter_input(3000), small_stdin=filter_input(12)),
    Case("strings", ("200",), ("24",)),
    Case("selfmod", ("200",), ("30",)),
]
CASE_BY_NAME = {case.name: case for case in CASES}


# -- busybox ---------------------------------------------------------------------
BUSYBOX = "/usr/bin/busybox"

WORDS = ("the quick brown fox\njumps over the lazy dog\nfoo bar baz\nFoo Bar\nbar\nfoo\n"
         "zebra crossing\napple pie\nfoo bar baz\n\ntabs\there\tand\tthere\nlast line\n")
NUMBERS = "\n".join(str(n) for n in (42, -7, 3, 1000, 3, 0, 99, -120, 42, 5, 17, 3)) + "\n"
TABLE = "name,qty,price\napple,3,0.5\nbanana,12,0.25\ncherry,100,0.1\ndate,7,2.75\n"


def busybox_files(directory) -> None:
    """Write the input files that BUSYBOX_CASES name as {d}/FILE."""
    d = Path(directory)
    (d / "words.txt").write_text(WORDS)
    (d / "numbers.txt").write_text(NUMBERS)
    (d / "table.csv").write_text(TABLE)
    (d / "bytes.bin").write_bytes(bytes(range(256)) * 2 + b"tail\n")
    (d / "words.gz").write_bytes(gzip.compress(WORDS.encode() * 20, mtime=0))


@dataclass(frozen=True)
class Applet:
    id: str
    argv: tuple[str, ...]                  # after `busybox`; {d} is the input directory
    stdin: bytes = b""


BUSYBOX_INTERP = {"echo", "expr", "expr-false"}      # also run under the interpreter (cheap ones)

BUSYBOX_CASES = [
    Applet("echo", ("echo", "hello", "", "world", "-n")),
    Applet("printf", ("printf", "%s=%d|%05.2f|%x|%-4s|%e|%g\\n", "a", "42", "3.14159", "255", "z",
                      "12345.678", "0.0001")),
    Applet("seq", ("seq", "1", "3", "20")),
    Applet("cat", ("cat", "{d}/words.txt", "-", "{d}/table.csv"), b"from stdin\n"),
    Applet("wc", ("wc", "{d}/words.txt", "{d}/numbers.txt")),
    Applet("sort-n", ("sort", "-n", "{d}/numbers.txt")),
    Applet("sort-r", ("sort", "-r", "{d}/words.txt")),
    Applet("sort-u", ("sort", "-u", "{d}/words.txt")),
    Applet("uniq-c", ("uniq", "-c"), "".join(sorted(WORDS.splitlines(keepends=True))).encode()),
    Applet("head", ("head", "-n", "3", "{d}/words.txt")),
    Applet("tail", ("tail", "-n", "2", "{d}/words.txt")),
    Applet("tr", ("tr", "a-z", "A-Z"), WORDS.encode()),
    Applet("cut", ("cut", "-d", ",", "-f", "1,3", "{d}/table.csv")),
    Applet("grep-E", ("grep", "-E", "fo+|ba[rz]$", "{d}/words.txt")),
    Applet("grep-nomatch", ("grep", "nothing-matches-this", "{d}/words.txt")),
    Applet("sed", ("sed", "-e", "s/o/0/g", "-e", "2d", "-e", "/^$/d", "{d}/words.txt")),
    Applet("awk", ("awk", "-F", ",",
                   "NR > 1 { s += $2 * $3; n++; print NF, toupper($1), length($0) } "
                   "END { printf \"%d %.3f %s\\n\", n, s, s / n; "
                   "for (i = 1; i <= 5; i++) { x = x * 2.5 + i; printf \"%.4f %g|\", x, x / 7 }; "
                   "print substr(\"translator\", 3, 4), index(\"abc\", \"c\") }",
                   "{d}/table.csv")),
    Applet("sha256sum", ("sha256sum", "{d}/words.txt", "{d}/bytes.bin")),
    Applet("md5sum", ("md5sum",), WORDS.encode() * 50),
    Applet("gzip-c", ("gzip", "-c"), WORDS.encode() * 30),
    Applet("gunzip-c", ("gunzip", "-c", "{d}/words.gz")),
    Applet("od", ("od", "-A", "x", "-t", "x1", "{d}/bytes.bin")),
    Applet("expr", ("expr", "6", "*", "7", "+", "1")),
    Applet("expr-false", ("expr", "3", "<", "2")),
    Applet("basename", ("basename", "/usr/lib/file.tar.gz", ".gz")),
    Applet("tac", ("tac", "{d}/numbers.txt")),
    Applet("base64", ("base64", "{d}/bytes.bin")),
    Applet("factor", ("factor", "360", "1000001", "4294967297")),
]
