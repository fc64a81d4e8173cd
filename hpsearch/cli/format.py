"""Plain-text tables for the terminal."""
from __future__ import annotations

from typing import Any, Sequence


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)


def leaderboard(study, limit: int | None = None) -> str:
    """Trials sorted best first; the best one marked with '*'."""
    trials = study.trials
    best = study.best_trial
    ranked = sorted(trials, key=lambda t: (t.value is None,
                                           (t.value or 0) if study.mode == "min" else -(t.value or 0),
                                           t.number))
    if limit:
        ranked = ranked[:limit]
    names = list(dict.fromkeys(k for t in trials for k in t.params))
    headers = ["", "trial"] + names + [study.metric, "status", "duration_s"]
    rows = [["*" if best is not None and t.number == best.number else "", t.number]
            + [t.params.get(n) for n in names]
            + [t.value, t.status, None if t.duration_s is None else round(t.duration_s, 1)]
            for t in ranked]
    counts = study.counts
    head = (f"study {study.name!r}: {study.status}, {counts.total} trials, {counts.done} done"
            + (f", {counts.imported} imported" if counts.imported else ""))
    if best is not None:
        head += f", best {study.metric}={fmt(best.value)} (trial {best.number})"
    if study.error:
        head += f"\nerror: {study.error}"
    return head + "\n" + table(headers, rows)
