"""What every chart shares: reading scored trials, the space's scales, sampling, encoding."""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go

from hpsearch.exceptions import SpecError
from hpsearch.space import Categorical, Space
from hpsearch.status import StudyStatus
from hpsearch.store.models import Study
# The scored trials (never imported ones) every chart draws: the read model's, not a copy.
from hpsearch.store.queries import Row, scored_trials as scored  # noqa: F401 - re-exported

# Caps that keep a 10,000-trial study's charts small enough to draw (and send) quickly.
# Every marker and bar is an SVG element the browser builds, styles and paints: styling
# markers was a tenth of the study page's drawing in a Chromium profile at 100,000 trials.
# Each chart that samples says so in its subtitle ("N of M trials shown").
MAX_MARKERS = 1000        # points per scatter (history; half of it, the contour's dots)
# Points per slice and rank panel: each is an SVG marker in every panel (6 panels: 900
# markers). At 500 these two charts were the study page's costliest to draw (~0.5-0.9 s
# each on a loaded 2-core machine's browser); at 250 about 0.6x of that.
MAX_SLICE = 150
MAX_LINES = 1000          # parallel-coordinates lines
MAX_FIT_ROWS = 1000       # rows the importance forest is fitted on
GRID = 24                 # contour cells per axis


def arr(values: Sequence[Any]) -> np.ndarray:
    """A numpy array for a trace: plotly validates arrays at once, lists element by element
    (four to ten times slower on a 2,000-point trace)."""
    return np.asarray(values)


def empty(title: str, study: Study | None = None) -> go.Figure:
    """A figure with a note instead of data: "no data yet" while the study may still
    report, else why there is none (a failed or cancelled study never will)."""
    note = "no data yet"
    if study is not None and study.status in StudyStatus.FINISHED:
        note = f"no data: the study {study.status.lower()} before any trial reported one"
    fig = go.Figure(layout={"title": {"text": title}})
    fig.add_annotation(text=note, showarrow=False, xref="paper", yref="paper",
                       x=0.5, y=0.5, font={"size": 16})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def int_axis(largest: float | None = None) -> dict:
    """Axis settings for counts (trials, iterations): whole-number ticks only."""
    ax: dict[str, Any] = {"tickformat": "d"}
    if largest is not None and largest < 10:
        ax["dtick"] = 1  # plotly's automatic ticks would fall on halves
    return ax


def check_metric(store, study: Study, metric: str | None) -> str | None:
    """None for the study's objective; else a metric its trials report (ValueError if not)."""
    if not metric or metric == study.metric:
        return None
    from hpsearch.store.queries import reported_metrics

    known = reported_metrics(store, study.id)
    if metric not in known:
        raise ValueError(f"unknown metric {metric!r}; the study reports: {', '.join(known) or 'nothing yet'}")
    return metric


def get_study(store, study_id: int) -> Study:
    return store.get_study(int(study_id))  # NotFoundError for an unknown id


def space_of(study: Study) -> Space | None:
    """The study's search space, or None when its stored spec no longer parses."""
    try:
        return Space.from_spec((study.spec or {}).get("space") or {})
    except SpecError:
        return None


def log_params(study: Study) -> set[str]:
    """Names of the log-scaled parameters (loguniform, logint)."""
    space = space_of(study)
    if space is None:
        return set()
    return {p.name for p in space.params if getattr(p, "log", False)}


def param_names(study: Study, rows: Sequence[Row]) -> list[str]:
    """The space's names in spec order, then any others the trials carry."""
    space = space_of(study)
    names: dict[str, None] = dict.fromkeys(space.names if space else [])
    for r in rows:
        for k in r.params:
            names.setdefault(k, None)
    return list(names)


def is_numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values if v is not None)


def encode(values: Sequence[Any], log: bool = False) -> tuple[list[float], list[str] | None]:
    """Numbers as they are (log10 when ``log``); anything else as category codes and labels."""
    if is_numeric(values):
        out = []
        for v in values:
            if v is None or (log and v <= 0):
                out.append(float("nan"))
            else:
                out.append(math.log10(v) if log else float(v))
        return out, None
    labels = sorted({str(v) for v in values})
    index = {lab: i for i, lab in enumerate(labels)}
    return [float(index[str(v)]) for v in values], labels


INACTIVE = "—"  # a conditional parameter a trial does not use (never a value of its own)


def encode_param(rows: Sequence[Row], name: str, log: bool = False
                 ) -> tuple[list[float], list[str] | None, float | None]:
    """:func:`encode` for one parameter over ``rows``, with the trials that do not use it
    (a conditional parameter whose condition failed: absent from their params) kept
    apart from every value: on a category axis as the last label, ``INACTIVE``; on a
    numeric axis below the lowest value, at the returned position (else None).
    """
    present = [name in r.params for r in rows]
    raw = [r.params.get(name) for r in rows]
    if all(present):
        return (*encode(raw, log=log), None)
    if not is_numeric(raw):
        labels = sorted({str(v) for v, p in zip(raw, present) if p})
        index = {lab: i for i, lab in enumerate(labels)}
        return ([float(index[str(v)]) if p else float(len(labels)) for v, p in zip(raw, present)],
                labels + [INACTIVE], None)
    vals, _ = encode([v if p else None for v, p in zip(raw, present)], log=log)
    finite = [v for v, p in zip(vals, present) if p and math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    at = lo - 0.15 * ((hi - lo) or 1.0)
    return [v if p else at for v, p in zip(vals, present)], None, at


def linear_ticks(lo: float, hi: float, n: int = 5) -> tuple[list[float], list[str]]:
    """``n`` evenly spaced ticks from lo to hi, labelled with 3 significant digits."""
    vals = [lo + (hi - lo) * i / (n - 1) for i in range(n)] if hi > lo else [lo]
    return vals, [f"{v:.3g}" for v in vals]


def best_index(rows: Sequence[Row], mode: str) -> int:
    pick = max if mode == "max" else min
    return pick(range(len(rows)), key=lambda i: rows[i].value)


def sample(rows: Sequence[Row], cap: int, mode: str, keep_best: int = 1) -> list[Row]:
    """At most ``cap`` rows: the ``keep_best`` best, then an even stride over the rest.

    Deterministic (the same rows give the same picture) and in trial order.
    """
    if len(rows) <= cap:
        return list(rows)
    ranked = sorted(range(len(rows)), key=lambda i: rows[i].value, reverse=mode == "max")
    keep = set(ranked[:keep_best])
    rest = [i for i in range(len(rows)) if i not in keep]
    room = cap - len(keep)
    step = len(rest) / room
    keep.update(rest[int(k * step)] for k in range(room))
    return [rows[i] for i in sorted(keep)]


def frame(store, study_id: int):
    """The study's scored trials as columns (hpsearch/store/frames.py): kept up to date in SQL
    as trials end, so a chart of 100,000 trials reads one row instead of decoding them all."""
    from hpsearch.store import frames

    return frames.load(store, study_id)


def frame_names(study: Study, fr) -> list[str]:
    """The space's parameter names in spec order, then any others the frame's trials carry."""
    space = space_of(study)
    names: dict[str, None] = dict.fromkeys(space.names if space else [])
    for k in fr.params:
        names.setdefault(k, None)
    return list(names)


def sample_idx(values: np.ndarray, cap: int, mode: str, keep_best: int = 1) -> np.ndarray:
    """:func:`sample` over a frame's values: the indices of at most ``cap`` rows (the
    ``keep_best`` best, then an even stride over the rest), in trial order."""
    n = len(values)
    if n <= cap:
        return np.arange(n)
    # Masks, not a sort: at 100,000 rows the full argsort and setdiff1d/unique (each a sort)
    # were a tenth of a chart's build time; one best row needs no sort at all.
    if keep_best == 1 and not np.isnan(values).any():
        keep = np.array([best_idx(values, mode)])
    else:
        keep = np.argsort(-values if mode == "max" else values, kind="stable")[:keep_best]
    rest_mask = np.ones(n, dtype=bool)
    rest_mask[keep] = False
    rest = np.flatnonzero(rest_mask)
    room = cap - len(keep)
    step = len(rest) / room
    picked = np.zeros(n, dtype=bool)
    picked[keep] = True
    picked[rest[np.floor(np.arange(room) * step).astype(np.int64)]] = True
    return np.flatnonzero(picked)


def best_idx(values: np.ndarray, mode: str) -> int:
    """The best row of a frame (ties: the lowest trial number, as the read model's best)."""
    return int(np.argmax(values) if mode == "max" else np.argmin(values))


def shown_note(shown: int, total: int, verb: str = "shown") -> str:
    return f"{shown:,} of {total:,} trials {verb} (an even sample, the best kept)" if shown < total else ""


def log_panel_axis(values) -> dict:
    """A log x axis for a narrow panel (slice, rank: four a row): powers of ten written
    10⁻⁵, not 10µ/0.001 (which collided), and every second or third one when the values
    span more than three or six decades."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    decades = float(np.log10(v.max() / v.min())) if len(v) else 0.0
    return {"type": "log", "dtick": 1 if decades <= 3.5 else (2 if decades <= 7 else 3),
            "exponentformat": "power"}


def title(text: str, note: str = "") -> dict:
    """A layout title; a sampling note goes in the subtitle so the title stays short."""
    return {"text": text, "subtitle": {"text": note}} if note else {"text": text}


def best_so_far(values: Sequence[float], mode: str) -> list[float]:
    out: list[float] = []
    best = None
    for v in values:
        best = v if best is None else (max(best, v) if mode == "max" else min(best, v))
        out.append(best)
    return out


def metric_title(study: Study) -> str:
    return f"{study.metric} ({study.mode})"


def check_param(study: Study, rows: Sequence[Row], name: str) -> None:
    names = param_names(study, rows)
    if name not in names:
        raise ValueError(f"unknown parameter {name!r}; parameters: {', '.join(names) or 'none'}")


def categorical(study: Study) -> set[str]:
    space = space_of(study)
    return {p.name for p in space.params if isinstance(p, Categorical)} if space else set()


def log_ticks(lo: float, hi: float) -> tuple[list[float], list[str]]:
    """Ticks at the powers of ten between log10 values lo and hi (for axes drawn in log10)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [], []
    first, last = math.floor(lo), math.ceil(hi)
    vals = list(range(first, last + 1))
    return [float(v) for v in vals], [f"{10.0 ** v:g}" for v in vals]
