"""Fixtures of the pc-machine tests: `build` assembles and links a test kernel."""
import shutil
import subprocess
from pathlib import Path

import pytest

from machinekit import DATA, LINK, PRELUDE


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """build(name, body, data='') -> path of a kernel: PRELUDE + main: body + DATA."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is required to build the test kernels")
    outdir = tmp_path_factory.mktemp("kernels")

    def make(name: str, body: str, data: str = "") -> Path:
        src = outdir / f"{name}.S"
        src.write_text(PRELUDE + "\nmain:\n" + body + "\n" + DATA + data + "\n")
        out = outdir / f"{name}.elf"
        proc = subprocess.run([gcc, *LINK, "-o", str(out), str(src)], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.fail(f"building {name} failed:\n{proc.stderr}")
        return out
    return make
