"""Results of a benchmark run: the table (rich, and Markdown for the README), JSON and a PNG.

Every figure here comes from suite.summary(); this module only formats. Ratios below 1
mean dbt is faster (dbt/native, dbt/qemu: a cold run translating everything; warm/native,
warm/qemu: a run whose code cache an earlier run filled); jit/interp is how many times more guest
instructions per second the JIT retires than the interpreter.
"""
import json
import os
import platform
import subprocess
from pathlib import Path

from rich.table import Table

from dbt.bench.runners import qemu_path

COLUMNS = ("program", "native s", "qemu s", "jit s", "warm s", "interp M insns/s",
           "dbt/native", "dbt/qemu", "warm/native", "warm/qemu", "jit/interp")
LABELS = {"qemu": "qemu", "jit": "dbt jit (cold)", "warm": "dbt jit (warm code cache)"}
RATIOS = ("dbt/native", "dbt/qemu", "warm/native", "warm/qemu", "jit/interp")


def first_line(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return None
    return (out.strip().splitlines() or [None])[0]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    import llvmlite
    qemu = qemu_path()
    return {"cpu": cpu_model(), "cpus": os.cpu_count(), "os": platform.platform(),
            "python": platform.python_version(), "llvmlite": llvmlite.__version__,
            "qemu": first_line([qemu, "--version"]) if qemu else None,
            "gcc": first_line(["gcc", "--version"]), "load_average_at_start": os.getloadavg()}


def cells(row: dict) -> list[str]:
    wall, rate, ratios = row["median_wall_seconds"], row["guest_insns_per_second"], row["ratios"]

    def seconds(r):
        return f"{wall[r]:.3f}" if r in wall else "-"

    interp = f"{rate['interp'] / 1e6:.3f}" if "interp" in rate else "-"
    return [f"{row['program']} ({row['libc']})", seconds("native"), seconds("qemu"), seconds("jit"), seconds("warm"), interp,
            *(ratio(ratios.get(name)) for name in RATIOS)]


def ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}x" if value >= 100 else f"{value:.2f}x"


def geomean_cells(geomeans: dict) -> list[str]:
    return ["geomean", "", "", "", "", "", *(ratio(geomeans.get(name)) for name in RATIOS)]


def rich_table(rows: list[dict], geomeans: dict) -> Table:
    table = Table(title="dbt bench (medians; dbt = dbt jit, cold; warm = with a filled code cache; jit/interp in guest insns/s)")
    for name in COLUMNS:
        table.add_column(name, justify="left" if name == "program" else "right")
    for row in rows:
        table.add_row(*cells(row))
    table.add_section()
    table.add_row(*geomean_cells(geomeans), style="bold")
    return table


def markdown_table(rows: list[dict], geomeans: dict) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in rows]
    lines.append("| " + " | ".join(f"**{c}**" if c else "" for c in geomean_cells(geomeans)) + " |")
    return "\n".join(lines) + "\n"


def write_json(path: Path, document: dict) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n")


def write_png(path: Path, rows: list[dict], title: str) -> None:
    """Bars per program: wall time of qemu and dbt jit relative to native, and jit/interp."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{row['program']}\n{row['libc']}" for row in rows]
    positions = range(len(rows))
    fig, (walls, speedup) = plt.subplots(1, 2, figsize=(max(8, 2.2 * len(rows)), 4.5),
                                         gridspec_kw={"width_ratios": [2, 1]})
    shown = []
    for offset, runner in ((-0.27, "qemu"), (0, "jit"), (0.27, "warm")):
        heights = [row["median_wall_seconds"][runner] / row["median_wall_seconds"]["native"]
                   if runner in row["median_wall_seconds"] and "native" in row["median_wall_seconds"] else 0
                   for row in rows]
        walls.bar([p + offset for p in positions], heights, width=0.27, label=LABELS[runner])
        shown += heights
    walls.axhline(1, color="black", linewidth=0.8)
    log_scale(walls, shown, "only native ran")
    walls.set_ylabel("wall time / native (lower is better)")
    walls.set_xticks(list(positions), labels)
    walls.legend()
    speedups = [row["ratios"].get("jit/interp", 0) for row in rows]
    speedup.bar(list(positions), speedups, color="tab:green")
    log_scale(speedup, speedups, "jit, interp")
    speedup.set_ylabel("jit / interp, guest insns/s")
    speedup.set_xticks(list(positions), labels)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def log_scale(axes, values: list[float], missing: str) -> None:
    """A log scale for bars (those at 0, not measured, are masked), or a note saying why
    there are none (matplotlib warns of a log scale with no positive value)."""
    if any(v > 0 for v in values):
        axes.set_yscale("log", nonpositive="clip")
    else:
        axes.set_title(f"not measured: {missing}", fontsize="small")
