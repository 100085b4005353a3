"""Tests of the native (host CPU) runner alone; they need no part of dbt."""
from __future__ import annotations

import ctypes

from hypothesis import given, settings
from hypothesis import strategies as st

from .native import (CODE_ADDR, DATA_ADDR, DATA_SIZE, DEFAULT_RSP, GPRS, MASK64, assemble,
                     native_runner, run_native)
from .undefined_flags import AF, CF, DF, OF, PF, SF, STATUS_FLAGS, ZF

ZERO_DATA = bytes(DATA_SIZE)
u64 = st.integers(min_value=0, max_value=MASK64)


def status_flags(result: int, carry: bool, overflow: bool, aux: bool) -> int:
    flags = (CF if carry else 0) | (OF if overflow else 0) | (AF if aux else 0)
    flags |= ZF if result == 0 else 0
    flags |= SF if result >> 63 else 0
    flags |= PF if bin(result & 0xFF).count("1") % 2 == 0 else 0
    return flags


def test_add_known_values_and_flags():
    regs = {"rax": 0x7FFFFFFFFFFFFFFF, "rbx": 1}
    out = run_native(assemble("add rax, rbx"), regs, 0x2, ZERO_DATA)
    assert out.regs["rax"] == 0x8000000000000000
    assert out.rflags & STATUS_FLAGS == OF | SF | AF | PF


@settings(max_examples=200, deadline=None)
@given(a=u64, b=u64, subtract=st.booleans())
def test_add_sub_flags_match_python_model(a, b, subtract):
    out = run_native(assemble("sub rax, rbx" if subtract else "add rax, rbx"),
                     {"rax": a, "rbx": b}, 0x2, ZERO_DATA)
    if subtract:
        r = (a - b) & MASK64
        carry, overflow = a < b, ((a ^ b) & (a ^ r)) >> 63
    else:
        r = (a + b) & MASK64
        carry, overflow = a + b > MASK64, ((a ^ r) & (b ^ r)) >> 63
    want = status_flags(r, carry, bool(overflow), bool((a ^ b ^ r) & 0x10))
    assert out.regs["rax"] == r
    assert out.rflags & STATUS_FLAGS == want


def test_empty_code_round_trips_every_register_and_data():
    regs = {name: (0x0102030405060708 * (i + 3)) & MASK64 for i, name in enumerate(GPRS)}
    regs["rsp"] = DEFAULT_RSP
    data = bytes(i & 0xFF for i in range(DATA_SIZE))
    out = run_native(b"", regs, 0x2, data)
    assert out.regs == regs
    assert out.data == data


def test_flags_are_loaded_and_unloadable_bits_dropped():
    out = run_native(assemble("pushfq; pop rax"), {}, STATUS_FLAGS | DF | 0x100, ZERO_DATA)
    assert out.regs["rax"] & (STATUS_FLAGS | DF) == STATUS_FLAGS | DF
    assert not out.regs["rax"] & 0x100  # TF never loaded
    assert out.rflags & (STATUS_FLAGS | DF) == STATUS_FLAGS | DF


def test_push_pop_use_the_scratch_stack():
    out = run_native(assemble("push rbx; pop rcx; push rdx"),
                     {"rbx": 0x1122334455667788, "rdx": 0xCAFE}, 0x2, ZERO_DATA)
    assert out.regs["rcx"] == 0x1122334455667788
    assert out.regs["rsp"] == DEFAULT_RSP - 8
    top = DEFAULT_RSP - DATA_ADDR
    assert out.data[top - 8:top] == (0xCAFE).to_bytes(8, "little")
    assert out.data.count(0) == DATA_SIZE - 2  # nothing else written (0xcafe has 2 bytes)


def test_store_lands_in_data_buffer():
    out = run_native(assemble("mov [rdi + 0x10], rax; mov byte ptr [rdi + 0xffff], 0x5a"),
                     {"rdi": DATA_ADDR, "rax": 0xDEADBEEF}, 0x2, ZERO_DATA)
    assert out.data[0x10:0x18] == (0xDEADBEEF).to_bytes(8, "little")
    assert out.data[0xFFFF] == 0x5A


def test_std_is_reported_and_host_df_is_clear_afterwards():
    out = run_native(assemble("std"), {}, 0x2, ZERO_DATA)
    assert out.rflags & DF
    assert not native_runner().host_rflags() & DF
    src = ctypes.create_string_buffer(b"abcdefgh" * 64)
    dst = ctypes.create_string_buffer(len(src))
    ctypes.memmove(dst, src, len(src))  # libc string ops assume DF = 0
    assert dst.raw == src.raw


def test_rip_relative_and_internal_call_stay_in_code():
    code = assemble("lea rax, [rip]; call f; jmp done; f: mov ebx, 5; ret; done: nop")
    out = run_native(code, {"rbx": MASK64}, 0x2, ZERO_DATA)
    assert out.regs["rax"] == CODE_ADDR + 7
    assert out.regs["rbx"] == 5
    assert out.regs["rsp"] == DEFAULT_RSP


def test_loop_runs_to_completion():
    out = run_native(assemble("xor eax, eax; top: add rax, rcx; dec rcx; jnz top"), {"rcx": 100},
                     0x2, ZERO_DATA)
    assert out.regs["rax"] == 5050 and out.regs["rcx"] == 0


def test_runner_maps_once():
    assert native_runner() is native_runner()
    run_native(b"", {}, 0x2, ZERO_DATA)
    run_native(b"", {}, 0x2, ZERO_DATA)
