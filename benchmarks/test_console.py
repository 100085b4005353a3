"""pc machine benchmarks (pytest-benchmark): console throughput and engines on a compute kernel.

Console: examples/kernels/console.c writes the same text through the UART
(one port write, hence one exit to Python, per byte), the debug console
port 0xE9 (the same), and hypercall 1 (one exit per 4 KiB buffer).
Compute: examples/kernels/compute.c (a prime sieve) under each engine, the
interpreter at a smaller size, compared per guest instruction.

Run: python -m pytest benchmarks/test_console.py --benchmark-only --benchmark-columns=median,rounds
Each round boots a fresh machine in this process (translation included, as
in a real run); `extra_info` holds bytes/s or guest instructions/s.
"""
import sys
from pathlib import Path

import pytest

from dbt.runtime.machine import MachineConfig, PcMachine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "system"))
from machinekit import build_example_kernels  # noqa: E402


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    return build_example_kernels(tmp_path_factory.mktemp("kernels"))


class Sink:
    """The console: counts the bytes the guest wrote."""

    def __init__(self):
        self.bytes = 0

    def __call__(self, data: bytes) -> None:
        self.bytes += len(data)


def boot_and_run(kernel: Path, engine: str, cmdline: str) -> tuple[int, int]:
    """One run on a fresh machine: (console bytes, guest instructions)."""
    sink = Sink()
    machine = PcMachine(MachineConfig(kernel=str(kernel), engine=engine, cmdline=cmdline.encode(),
                                      console_write=sink))
    try:
        result = machine.run()
    finally:
        machine.close()
    assert result.status == 0, result
    return sink.bytes, machine.cpu.icount


@pytest.mark.parametrize("mode, nbytes", [("uart", 20_000), ("debugcon", 20_000), ("hypercall", 2_000_000)])
def test_console_throughput(benchmark, record_rate, kernels, mode, nbytes):
    """Bytes per second to the console: an exit per byte (uart, debugcon) or per 4 KiB (hypercall)."""
    written, _insns = benchmark.pedantic(boot_and_run, args=(kernels / "console.elf", "jit", f"{mode} {nbytes}"),
                                         rounds=3, iterations=1)
    assert written == nbytes
    record_rate("bytes_per_second", nbytes)


@pytest.mark.parametrize("engine, limit", [("jit", 1_000_000), ("interp", 10_000)])
def test_compute_kernel(benchmark, record_rate, kernels, engine, limit):
    """Guest instructions per second on a CPU-bound kernel (few exits)."""
    written, insns = benchmark.pedantic(boot_and_run, args=(kernels / "compute.elf", engine, str(limit)),
                                        rounds=3 if engine == "jit" else 1, iterations=1)
    assert written > 0
    record_rate("guest_insns_per_second", insns)
