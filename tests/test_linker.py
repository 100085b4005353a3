"""The object loader (dbt/backend/llvm/linker.py) against objects LLVM and gcc really make:
the loaded code is called and its results compared with what Python computes; what it
cannot load is a LinkError naming why."""
import ctypes
import random
import shutil
import subprocess

import pytest

from dbt.backend.llvm.jit import Compiler
from dbt.backend.llvm.linker import Linker, LinkError

MAP_FIXED_NOREPLACE = 0x100000

MODULE = """
target datalayout = "{datalayout}"
@table = private global [4 x i64] [i64 3, i64 5, i64 7, i64 11]
@calls = global i64 0
@table_refs = constant [2 x ptr] [ptr @table, ptr @calls]
declare i64 @strlen(ptr)
declare i64 @helper(i64)

define private i64 @pick(i64 %i) {
  %p = getelementptr [4 x i64], ptr @table, i64 0, i64 %i
  %v = load i64, ptr %p
  ret i64 %v
}

define i64 @mix(i64 %a, i64 %b, ptr %s) {
  %n = load i64, ptr @calls
  %n1 = add i64 %n, 1
  store i64 %n1, ptr @calls
  %i = and i64 %a, 3
  %t = call i64 @pick(i64 %i)
  %wa = zext i64 %a to i128
  %wb = zext i64 %b to i128
  %wide = shl i128 %wa, 64
  %w = or i128 %wide, %wb
  %q = udiv i128 %w, 1000000007
  %ql = trunc i128 %q to i64
  %len = call i64 @strlen(ptr %s)
  %h = call i64 @helper(i64 %len)
  %r1 = mul i64 %t, %ql
  %r2 = add i64 %r1, %h
  ret i64 %r2
}
"""

HELPER = """
target datalayout = "{datalayout}"
define i64 @helper(i64 %x) {
  %y = mul i64 %x, 1000
  ret i64 %y
}
"""


def test_llvm_objects_link_against_each_other_libc_and_libgcc():
    """A private table and function, a global counter, a call into another object (the
    parent linker's), libc's strlen and libgcc's 128-bit division: the results are Python's."""
    compiler = Compiler(0)
    runtime = Linker()
    runtime.load([compiler.compile(HELPER, verify=True)])
    linker = Linker(parent=runtime)
    linker.load([compiler.compile(MODULE, verify=True)])
    mix = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_char_p)(linker.address("mix"))
    rng = random.Random(7)
    for count in range(1, 51):
        a, b, s = rng.getrandbits(64), rng.getrandbits(64), b"x" * rng.randrange(40)
        want = ([3, 5, 7, 11][a & 3] * (((a << 64) | b) // 1000000007) + 1000 * len(s)) % 2**64
        assert mix(a, b, s) == want
        assert ctypes.c_uint64.from_address(linker.address("calls")).value == count
    refs = (ctypes.c_uint64 * 2).from_address(linker.address("table_refs"))
    assert list((ctypes.c_uint64 * 4).from_address(refs[0])) == [3, 5, 7, 11]
    assert refs[1] == linker.address("calls")
    with pytest.raises(KeyError):
        linker.address("pick")                   # private: not a symbol anyone can look up


C_SOURCE = r"""
static const char *const words[] = {"zero", "one", "two", "three", "four", "five", "six"};
static int counter;
static int length(const char *s) { int n = 0; while (s[n]) n++; return n; }
int score(unsigned x) {
    counter++;
    switch (x % 7) {
    case 0: return length(words[x % 7]) + counter;
    case 1: return 17 * length(words[(x / 7) % 7]);
    case 2: return (int)(x >> 3) - 5;
    case 3: return length(words[6]) * 100;
    case 4: return -(int)x;
    case 5: return (int)(x * 2654435761u);
    default: return 42;
    }
}
"""


def _score(x: int, counter: int) -> int:
    words = ["zero", "one", "two", "three", "four", "five", "six"]
    r = x % 7
    value = [len(words[0]) + counter, 17 * len(words[(x // 7) % 7]), (x >> 3) - 5, len(words[6]) * 100,
             -x, (x * 2654435761) % 2**32, 42][r]
    return (value + 2**31) % 2**32 - 2**31


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_gcc_objects_with_pc_relative_code_and_absolute_tables_load(tmp_path):
    """gcc's objects (PC-relative code and data, jump tables, a string table of absolute
    addresses; the large code model's absolute addresses): each relocation kind they use,
    checked by calling the code."""
    (tmp_path / "s.c").write_text(C_SOURCE)
    for flags in (["-O2", "-fpie"], ["-O0", "-fpie"], ["-O2", "-mcmodel=large", "-fno-pic"]):
        subprocess.run(["gcc", "-c", *flags, "-o", str(tmp_path / "s.o"), str(tmp_path / "s.c")], check=True)
        linker = Linker()
        linker.load([(tmp_path / "s.o").read_bytes()])
        score = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint)(linker.address("score"))
        rng = random.Random(3)
        for count, x in enumerate([0, 1, 2, 3, 4, 5, 6, 7, 48, 2**32 - 1] + [rng.getrandbits(32) for _ in range(200)]):
            assert score(x) == _score(x, count + 1), (flags, x)


def _object(tmp_path, source: str, *flags: str) -> bytes:
    (tmp_path / "e.c").write_text(source)
    subprocess.run(["gcc", "-c", *flags, "-o", str(tmp_path / "e.o"), str(tmp_path / "e.c")], check=True)
    return (tmp_path / "e.o").read_bytes()


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_what_it_cannot_load_is_a_link_error_naming_why(tmp_path):
    linker = Linker()
    with pytest.raises(LinkError, match="undefined symbol no_such_function_anywhere"):
        linker.load([_object(tmp_path, "int no_such_function_anywhere(void); int f(void) "
                                       "{ return no_such_function_anywhere(); }", "-O2", "-fno-pic")])
    with pytest.raises(LinkError, match="global offset table"):
        linker.load([_object(tmp_path, "extern int shared; int f(void) { return shared; }", "-O2", "-fpic")])
    with pytest.raises(LinkError, match="relocation type 11 .* does not fit"):   # R_X86_64_32S: low 2 GiB only
        linker.load([_object(tmp_path, C_SOURCE, "-O2", "-fno-pic")])
    far = Linker()
    far.symbols["distant"] = 1 << 46                                    # beyond +-2 GiB of any mapping
    with pytest.raises(LinkError, match="out of range"):                # data: no stub can reach it
        Linker(parent=far).load([_object(tmp_path, "extern int distant; int f(void) { return distant; }",
                                         "-O2", "-fpie")])
    with pytest.raises(LinkError, match="not a 64-bit"):
        linker.load([b"not an object at all"])
    assert not linker.symbols                                           # nothing half-loaded


def _mapping_of(address: int) -> str:
    """The permissions of the host mapping holding `address` (from /proc/self/maps)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            span, perms = line.split()[:2]
            low, high = (int(x, 16) for x in span.split("-"))
            if low <= address < high:
                return perms
    raise AssertionError(f"{address:#x} is not mapped")


def test_code_is_never_writable_and_loads_do_not_each_add_mappings():
    """Each load's code is read-and-execute once loaded (the next load's goes to fresh pages)
    and its data read-write; 2,000 loads add a handful of host mappings, not two each (a
    process may hold 65,530)."""
    compiler = Compiler(0)
    runtime = Linker()
    runtime.load([compiler.compile(HELPER)])
    obj = compiler.compile(MODULE)
    linker = Linker(parent=runtime)
    with open("/proc/self/maps") as maps:
        before = len(maps.readlines())
    for _ in range(2000):
        linker.load([obj])                      # each load defines the names again: the last wins
    with open("/proc/self/maps") as maps:
        after = len(maps.readlines())
    assert after - before < 20
    assert _mapping_of(linker.address("mix")).startswith("r-x")
    assert _mapping_of(linker.address("calls")).startswith("rw-")
    mix = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_char_p)(linker.address("mix"))
    assert mix(6, 7, b"abc") == (7 * (((6 << 64) | 7) // 1000000007) + 3000) % 2**64


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_a_call_to_a_function_beyond_32_bits_goes_through_a_stub(tmp_path):
    """gcc's small code model calls a symbol it does not define with a 32-bit displacement:
    the loader sends the call through a stub of its own, so a function 1 TiB away (a page
    mapped there with `mov eax, 42; ret`) is reached."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype, libc.mmap.argtypes = ctypes.c_void_p, (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                                                              ctypes.c_int, ctypes.c_int, ctypes.c_long)
    linker = Linker(parent=Linker())
    linker.load([_object(tmp_path, "static int near_data = 1; int touch(void) { return near_data; }", "-O2", "-fpie")])
    failed, page = ctypes.c_void_p(-1).value, None
    for distance in range(1, 64):              # read-write, private anonymous, there or nowhere
        hint = (linker.address("touch") - (distance << 36)) & ~0xFFF
        found = libc.mmap(hint, 4096, 3, 0x22 | MAP_FIXED_NOREPLACE, -1, 0)
        if found not in (None, failed) and found == hint:
            page = found
            break
    if page is None:
        pytest.skip("no page could be mapped far away")
    ctypes.memmove(page, b"\xb8\x2a\x00\x00\x00\xc3", 6)                # mov eax, 42; ret
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    assert libc.mprotect(page, 4096, 5) == 0                             # read, execute
    linker.parent.symbols["distant"] = page
    linker.load([_object(tmp_path, "int distant(void); int f(void) { return distant() + 1; }", "-O2", "-fpie")])
    assert ctypes.CFUNCTYPE(ctypes.c_int)(linker.address("f"))() == 43
