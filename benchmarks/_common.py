"""Shared helpers for the benchmarks: the machine, Markdown tables, targets, Ray."""
from __future__ import annotations

import datetime as _dt
import os
import platform
import statistics
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
# Logical CPUs for the one local Ray of a benchmark run: the 8-trial write case needs 8.
RAY_CPUS = 8


def machine() -> dict:
    """CPU model, cores and RAM from /proc; date; git revision."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram_gib = round(int(line.split()[1]) / 1024 ** 2, 1)
    except OSError:
        pass
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10).stdout.strip() or "unknown"
        # Results files written earlier in the same run do not make the code "dirty".
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)benchmarks/results"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        rev += "+dirty" if dirty else ""
    except (OSError, subprocess.SubprocessError):
        rev = "unknown"
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": ram_gib,
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "rev": rev,
            "load": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def machine_line(m: dict | None = None) -> str:
    m = m or machine()
    return (f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM; {m['date']}; "
            f"git {m['rev']}; load average at start {m['load']:.2f} (shared with other work, so "
            "absolute times are noisy; ratios within one run are what we compare).")


def table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def _cell(c) -> str:
    if isinstance(c, float):
        return f"{c:.3g}" if abs(c) < 100 else f"{c:,.0f}"
    return str(c)


def verdict(value: float, target: float, higher_is_better: bool) -> str:
    """'met' or 'MISSED', with the margin, e.g. 'MISSED by 23% (1.42 vs <= 1.15)'."""
    if value is None:
        return "not measured"
    ok = value >= target if higher_is_better else value <= target
    rel = (value - target) / target * 100
    sign = ">=" if higher_is_better else "<="
    word = "met" if ok else "MISSED"
    return f"{word} ({value:.3g} vs {sign} {target:g}; {abs(rel):.0f}% {'over' if rel > 0 else 'under'})"


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def write(name: str, text: str, out: Path | None = None) -> Path:
    out = out or RESULTS
    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    path.write_text(text)
    return path


def start_ray() -> None:
    """One local Ray for every Ray row of a run (the first call starts it)."""
    from hpsearch.orchestration import ensure_ray

    ensure_ray(num_cpus=RAY_CPUS)
