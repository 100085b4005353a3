"""The runtime helpers every translated block may call, as one LLVM module compiled once per
process (dbt/backend/llvm/jit.py `runtime_library`): @dbt_cc_all (the lazy flags of a dynamic
cc_op), @dbt_miss (a jump-cache entry's default target), @dbt_enter (how the runtime calls a
translated function: those use the ghccc calling convention, lower.py), @dbt_guest_access
(the exact check of a guest memory access the inline fast path did not pass) and
@dbt_on_fault (the SIGSEGV handler that sends a refused access there: host_faults.py).
"""
import functools

from dbt.backend.llvm.host_faults import handler_module
from dbt.backend.llvm.lower import FunctionLowering
from dbt.frontend.x86.flags import ALL_CC_OPS, cc_all_case
from dbt.ir.exits import ExitReason, Vector
from dbt.runtime.cpu import CPUState
from dbt.runtime.memory import CANONICAL_LOW, CODE, NATIVE_LOAD, NATIVE_STORE, PAGE_SHIFT, R, W, WATCH_R, WATCH_W

RUNTIME_SYMBOLS = ("dbt_cc_all", "dbt_miss", "dbt_enter", "dbt_guest_access",     # what runtime_module defines
                   "dbt_on_fault", "dbt_fault_table", "dbt_fault_readers", "dbt_fault_old")


@functools.lru_cache(maxsize=None)
def runtime_module() -> str:
    """The module text of the helpers every block may call: @dbt_cc_all (lazy flags, dynamic
    cc_op), @dbt_miss, @dbt_enter, @dbt_guest_access and @dbt_on_fault."""
    f = FunctionLowering()
    f.lines.append("define i64 @dbt_cc_all(i64 %op, i64 %dst, i64 %src, i64 %src2) {")
    f.label("entry")
    cases = " ".join(f"i64 {c}, label %case{c}" for c in ALL_CC_OPS)
    f.emit(f"switch i64 %op, label %bad [ {cases} ]")
    f.label("bad")
    f.emit("ret i64 0")
    for c in ALL_CC_OPS:
        params, ops, result = cc_all_case(c)
        f.names.update({id(p): n for p, n in zip(params, ("%dst", "%src", "%src2"))})
        f.label(f"case{c}")
        for op in ops:
            f.lower_pure(op)
        f.emit(f"ret i64 {f.v(result)}")
    f.lines.append("}")
    miss = ["define ghccc i64 @dbt_miss(ptr %cpu) {", f"  ret i64 {int(ExitReason.MISS)}", "}",
            "define i64 @dbt_enter(ptr %fn, ptr %cpu) {", "  %r = call ghccc i64 %fn(ptr %cpu)", "  ret i64 %r", "}"]
    return "\n".join(['target datalayout = "{datalayout}"', *sorted(f.intrinsics), *f.lines, *miss,
                      guest_access_function(), handler_module()]) + "\n"


def guest_access_function() -> str:
    """@dbt_guest_access(cpu, addr, size, write): the exact check of a guest access that the
    host refused or that lies past the space (lower.py faulting_access), as GuestMemory.check
    makes it. Returns the host pointer, or null after recording the fault in exit_vector/exit_addr/exit_error:
    #PF at the first inaccessible byte as CR2 holds it (for an access leaving the space: the
    space's end when its first page is accessible, the first non-canonical byte when it runs
    into non-canonical addresses, else its start; for a refused page: the access start, or the
    second page's start when only that one refuses; a watched page refuses), CODE_WRITE for
    a store into a page holding translated code, or ACCESS_GROUP (the runtime interprets from
    this instruction) for an access the permissions allow and the host protection of native
    code's view does not (memory.host_protection: a store to a write-only page, or to a page
    watched for loads only): the pointer it returns is always one the host lets through."""
    def field(name: str) -> int:
        return getattr(CPUState, name).offset

    def record(where: str, vector: int, addr: str, error: str) -> list[str]:
        lines = []
        for name, value in (("exit_vector", str(vector)), ("exit_addr", addr), ("exit_error", error)):
            lines += [f"  %{name}.{where} = getelementptr i8, ptr %cpu, i64 {field(name)}",
                      f"  store i64 {value}, ptr %{name}.{where}"]
        return lines + ["  ret ptr null"]

    pf, code_write, interpret = int(Vector.PF), int(Vector.CODE_WRITE), int(Vector.ACCESS_GROUP)
    return "\n".join([
        "define preserve_mostcc ptr @dbt_guest_access(ptr %cpu, i64 %addr, i64 %size, i64 %write) {",
        "entry:",
        *(line for name in ("mem_base", "mem_perms", "mem_pages") for line in (
            f"  %{name}.p = getelementptr i8, ptr %cpu, i64 {field(name)}",
            f"  %{name} = load i64, ptr %{name}.p")),
        "  %membase = inttoptr i64 %mem_base to ptr",
        "  %perms = inttoptr i64 %mem_perms to ptr",
        f"  %memsize = shl i64 %mem_pages, {PAGE_SHIFT}",
        "  %is_write = icmp ne i64 %write, 0",
        f"  %need = select i1 %is_write, i8 {W}, i8 {R}",
        f"  %refusing = select i1 %is_write, i8 {W | WATCH_W}, i8 {R | WATCH_R}",
        "  %error = select i1 %is_write, i64 2, i64 0",
        "  %last = add i64 %addr, %size",
        "  %last_byte = sub i64 %last, 1",
        "  %limit = sub i64 %memsize, %size",
        "  %inside_space = icmp ule i64 %addr, %limit",
        "  br i1 %inside_space, label %pages, label %outside",
        "outside:",
        "  %below = icmp ult i64 %addr, %memsize",
        f"  %start_page = lshr i64 %addr, {PAGE_SHIFT}",
        "  %start_index = select i1 %below, i64 %start_page, i64 0",
        "  %start_perm.p = getelementptr i8, ptr %perms, i64 %start_index",
        "  %start_perm = load i8, ptr %start_perm.p",
        "  %start_has = and i8 %start_perm, %need",
        "  %start_ok = icmp ne i8 %start_has, 0",
        "  %start_inside = and i1 %below, %start_ok",
        f"  %low = icmp ult i64 %addr, {CANONICAL_LOW}",
        f"  %crosses = icmp uge i64 %last_byte, {CANONICAL_LOW}",
        "  %into_nc = and i1 %low, %crosses",
        f"  %nc_or_start = select i1 %into_nc, i64 {CANONICAL_LOW}, i64 %addr",
        "  %bounds_addr = select i1 %start_inside, i64 %memsize, i64 %nc_or_start",
        *record("outside", pf, "%bounds_addr", "%error"),
        "pages:",
        f"  %first = lshr i64 %addr, {PAGE_SHIFT}",
        f"  %second = lshr i64 %last_byte, {PAGE_SHIFT}",
        "  %first_perm.p = getelementptr i8, ptr %perms, i64 %first",
        "  %first_perm = load i8, ptr %first_perm.p",
        "  %second_perm.p = getelementptr i8, ptr %perms, i64 %second",
        "  %second_perm = load i8, ptr %second_perm.p",
        "  %first_has = and i8 %first_perm, %refusing",
        "  %first_ok = icmp eq i8 %first_has, %need",
        "  %second_has = and i8 %second_perm, %refusing",
        "  %second_ok = icmp eq i8 %second_has, %need",
        "  %both_ok = and i1 %first_ok, %second_ok",
        "  br i1 %both_ok, label %allowed, label %refused",
        "refused:",
        f"  %second_start = shl i64 %second, {PAGE_SHIFT}",
        "  %refused_addr = select i1 %first_ok, i64 %second_start, i64 %addr",
        *record("refused", pf, "%refused_addr", "%error"),
        "allowed:",
        "  %either = or i8 %first_perm, %second_perm",
        f"  %code_bits = and i8 %either, {CODE}",
        "  %holds_code = icmp ne i8 %code_bits, 0",
        "  %into_code = and i1 %is_write, %holds_code",
        "  br i1 %into_code, label %code_write, label %host_check",
        "code_write:",
        *record("code_write", code_write, "%addr", "2"),
        "host_check:",
        f"  %host_bits = select i1 %is_write, i8 {NATIVE_STORE[0]}, i8 {NATIVE_LOAD[0]}",
        f"  %host_need = select i1 %is_write, i8 {NATIVE_STORE[1]}, i8 {NATIVE_LOAD[1]}",
        "  %first_host = and i8 %first_perm, %host_bits",
        "  %second_host = and i8 %second_perm, %host_bits",
        "  %first_host_ok = icmp eq i8 %first_host, %host_need",
        "  %second_host_ok = icmp eq i8 %second_host, %host_need",
        "  %host_ok = and i1 %first_host_ok, %second_host_ok",
        "  br i1 %host_ok, label %host, label %interpret",
        "interpret:",
        *record("interpret", interpret, "%addr", "%error"),
        "host:",
        "  %pointer = getelementptr i8, ptr %membase, i64 %addr",
        "  ret ptr %pointer",
        "}"])
