"""Debian's static busybox under dbt: applets that need no fork, on small
inputs (files or stdin), must give the same stdout bytes and exit status as
busybox run natively (see libc_cases.BUSYBOX_CASES)."""
import pytest

import libcbuild
from libc_cases import BUSYBOX_CASES, BUSYBOX_INTERP


@pytest.mark.parametrize("applet", BUSYBOX_CASES, ids=lambda a: a.id)
def test_busybox_jit(applet, guest_outcome):
    libcbuild.check(guest_outcome)


@pytest.mark.parametrize("applet", [a for a in BUSYBOX_CASES if a.id in BUSYBOX_INTERP], ids=lambda a: a.id)
def test_busybox_interp(applet, guest_outcome):
    libcbuild.check(guest_outcome)
