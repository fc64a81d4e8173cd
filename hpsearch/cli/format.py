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
    """Trials sorted best first; the best one marked with '*'. A study with several
    objectives or with constraints gets :func:`pareto_leaderboard`."""
    spec = study.spec or {}
    if len(spec.get("objectives") or []) > 1 or spec.get("constraints"):
        return pareto_leaderboard(study, limit)
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
    if study.end_reason:
        head += f"\nended: {study.end_reason}"
    if study.waiting:
        head += f"\nwaiting: {study.waiting}"
    if study.error:
        head += f"\nerror: {study.error}"
    return head + "\n" + table(headers, rows)


def pareto_leaderboard(study, limit: int | None = None) -> str:
    """The front first: '*' marks a front trial, 'x' an infeasible one. The order is the
    read model's (hpsearch/store/fronts.py): feasible first, then non-dominated rank
    (0 = the front), then the primary objective best first, then trial number; trials
    without every objective (failed, running) come last."""
    view = study.pareto()
    trials = {t.number: t for t in study.trials}
    listed = [p.number for p in view.points]
    rest = [n for n in sorted(trials) if n not in set(listed)]
    order = (listed + rest)[:limit] if limit else listed + rest
    ranks = {p.number: p for p in view.points}
    names = list(dict.fromkeys(k for t in trials.values() for k in t.params))
    metrics = list(dict.fromkeys(view.objectives.metrics + [c.metric for c in view.constraints]))
    headers = ["", "trial"] + names + [f"{m} ({o.mode})" if (o := _objective(view, m)) else m
                                       for m in metrics] + ["rank", "status"]
    rows = []
    for n in order:
        t, p = trials[n], ranks.get(n)
        mark = "" if p is None else "*" if p.on_front else "" if p.feasible else "x"
        values = p.values if p is not None else t.values
        rows.append([mark, n] + [t.params.get(k) for k in names] + [values.get(m) for m in metrics]
                    + [None if p is None or p.rank is None else p.rank,
                       t.status if p is None or p.feasible else f"{t.status} (infeasible)"])
    counts = study.counts
    head = (f"study {study.name!r}: {study.status}, {counts.total} trials, {counts.done} done"
            + (f", {counts.imported} imported" if counts.imported else ""))
    head += f", {len(view.front)} on the Pareto front, {len(view.infeasible)} infeasible"
    if view.hypervolume:
        where = "spec" if view.reference_from_spec else "computed"
        ref = ", ".join(f"{m}={fmt(r)}" for m, r in zip(view.objectives.metrics, view.reference))
        head += f"\nhypervolume {fmt(view.hypervolume[-1][1])} (reference {where}: {ref})"
    if view.constraints:
        head += "\nconstraints: " + ", ".join(str(c) for c in view.constraints)
    head += (f"\nranked: feasible first, then non-dominated rank (0 = front; 0-2 computed), then "
             f"{view.objectives.metrics[0]} best first; * on the front, x infeasible")
    if study.end_reason:
        head += f"\nended: {study.end_reason}"
    if study.waiting:
        head += f"\nwaiting: {study.waiting}"
    if study.error:
        head += f"\nerror: {study.error}"
    return head + "\n" + table(headers, rows)


def _objective(view, metric: str):
    return next((o for o in view.objectives.items if o.metric == metric), None)
