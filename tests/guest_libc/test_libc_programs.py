"""Static libc programs (glibc via gcc, musl via musl-gcc, both -O2 -static)
under dbt must match their native run: the same stdout bytes and the same
exit status. Every program of src/ runs under the JIT at full size and under
the interpreter at a small size (see libc_cases.CASES)."""
import pytest

import libcbuild
from libc_cases import CASES


# Known gaps of the Linux user mode (open work of its issue), each a strict xfail:
# the test fails loudly the day the gap closes, so the mark must then go.
KNOWN_GAPS = {
    "fileio": (("jit", "interp"), "MAP_SHARED file mappings are private copies: "
                                  "writes never reach the file (and msync does nothing)"),
    "args_env": (("jit", "interp"), "/proc/self/cmdline is the host's, not the guest's argv"),
    "signals": (("jit",), "setitimer (38) is not implemented: no asynchronous timer signals"),
}


def cases_for(engine: str):
    params = []
    for case in CASES:
        engines, reason = KNOWN_GAPS.get(case.name, ((), ""))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if engine in engines else []
        params.append(pytest.param(case, id=case.name, marks=marks))
    return params


def test_every_program_has_a_case():
    assert sorted(libcbuild.sources()) == sorted(case.name for case in CASES)


@pytest.mark.parametrize("libc", libcbuild.LIBCS)
@pytest.mark.parametrize("case", cases_for("jit"))
def test_jit_matches_native(case, libc, guest_outcome):
    libcbuild.check(guest_outcome)


@pytest.mark.parametrize("libc", libcbuild.LIBCS)
@pytest.mark.parametrize("case", cases_for("interp"))
def test_interp_matches_native(case, libc, guest_outcome):
    libcbuild.check(guest_outcome)
