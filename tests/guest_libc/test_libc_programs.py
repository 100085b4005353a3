"""Static libc programs (glibc via gcc, musl via musl-gcc, both -O2 -static)
under dbt must match their native run: the same stdout bytes and the same
exit status. Every program of src/ runs under the JIT at full size and under
the interpreter at a small size (see libc_cases.CASES)."""
import pytest

import libcbuild
from libc_cases import CASES

CASE_PARAMS = [pytest.param(case, id=case.name) for case in CASES]


def test_every_program_has_a_case():
    assert sorted(libcbuild.sources()) == sorted(case.name for case in CASES)


@pytest.mark.parametrize("libc", libcbuild.LIBCS)
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_jit_matches_native(case, libc, guest_outcome):
    libcbuild.check(guest_outcome)


@pytest.mark.parametrize("libc", libcbuild.LIBCS)
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_interp_matches_native(case, libc, guest_outcome):
    libcbuild.check(guest_outcome)
