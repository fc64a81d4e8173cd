"""Charts over a study's trials as a population: EDF, rank, timeline."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from hpsearch.plots._common import (MAX_SLICE, arr, check_metric, empty, frame, frame_names,
                                    get_study, int_axis, is_numeric, log_panel_axis, log_params,
                                    metric_title, sample_idx, shown_note, title as mktitle)
from hpsearch.status import TrialStatus
from hpsearch.store.models import utcnow
from hpsearch.store.queries import last_reported, started_count, trial_spans

MAX_EDF_POINTS = 2000
# The timeline's latest trials: one SVG bar each, its costliest part to draw (5,000 bars took
# ~0.6-0.8 s of a loaded 2-core machine's browser, 2,000 ~0.3-0.4 s, the study page's slowest
# chart); its subtitle says how many.
MAX_SPANS = 1000


def edf(store, study_ids: int | list[int], metric: str | None = None) -> go.Figure:
    """Empirical distribution of the finished trials' values: the share of trials whose
    value is at most x (one line per study; Optuna's ``plot_edf``).

    ``metric``: any metric the trials report instead of the objective (each trial's
    last reported value). Drawn with at most MAX_EDF_POINTS points a study.
    """
    ids = [study_ids] if isinstance(study_ids, int) else list(study_ids)
    studies = [get_study(store, i) for i in ids]
    title = "Empirical distribution of values: " + ", ".join(s.name for s in studies)
    fig = go.Figure(layout={"title": {"text": title}, "yaxis": {"title": {"text": "share of trials ≤ x"},
                                                                "range": [0, 1.02]}})
    label = None
    for study in studies:
        m = check_metric(store, study, metric)
        if m:
            values = np.asarray([r.value for r in last_reported(store, study.id, m)], dtype=float)
        else:
            values = frame(store, study.id).values
        if not len(values):
            continue
        n_trials = len(values)
        values = np.sort(values)
        share = np.arange(1, len(values) + 1) / len(values)
        if len(values) > MAX_EDF_POINTS:  # even quantiles, the extremes kept
            keep = np.unique(np.linspace(0, len(values) - 1, MAX_EDF_POINTS).round().astype(int))
            values, share = values[keep], share[keep]
        fig.add_trace(go.Scatter(x=values, y=share, mode="lines", line={"shape": "hv"},
                                 name=f"{study.name} ({n_trials:,} trials)", meta=study.id))
        label = m or metric_title(study)
    if not fig.data:
        return empty(title, studies[0] if len(studies) == 1 else None)
    fig.update_xaxes(title_text=label)
    return fig


def rank_plot(store, study_id: int) -> go.Figure:
    """Each finished trial's rank (1 = best, in the study's direction) against each
    parameter, one panel per parameter, coloured by rank (Optuna's ``plot_rank``, one
    parameter a panel). At most MAX_SLICE trials (an even sample, the best kept)."""
    study = get_study(store, study_id)
    title = f"Rank: {study.name}"
    fr = frame(store, study.id)
    names = frame_names(study, fr)
    if not len(fr) or not names:
        return empty(title, study)
    picked = sample_idx(fr.values, MAX_SLICE, study.mode)
    shown = fr.rows(picked)
    ranks = ranks_of(-fr.values if study.mode == "max" else fr.values, picked)
    per_row = min(len(names), 4)
    n_rows = -(-len(names) // per_row)
    fig = make_subplots(rows=n_rows, cols=per_row, shared_yaxes=True, subplot_titles=names,
                        horizontal_spacing=0.04, vertical_spacing=min(0.15, 0.5 / n_rows))
    nums = arr([r.number for r in shown])
    logs = log_params(study)
    for i, name in enumerate(names):
        raw = [r.params.get(name) for r in shown]
        numeric = is_numeric(raw)
        xs = arr([float("nan") if x is None else x for x in raw]) if numeric else arr([str(x) for x in raw])
        r, c = i // per_row + 1, i % per_row + 1
        fig.add_trace(go.Scatter(x=xs, y=ranks, mode="markers", showlegend=False, name=name,
                                 customdata=nums, text=arr([f"trial {n}" for n in nums]),
                                 marker={"color": ranks, "colorscale": "Viridis", "reversescale": True,
                                         "size": 5, "showscale": i == 0,
                                         "colorbar": {"title": {"text": "rank"}}}), row=r, col=c)
        if numeric and name in logs:
            fig.update_xaxes(**log_panel_axis(xs), row=r, col=c)
    for r in range(1, n_rows + 1):
        fig.update_yaxes(title_text="rank (1 = best)", autorange="reversed", row=r, col=1)
    fig.update_xaxes(nticks=5)
    fig.update_layout(title=mktitle(title, shown_note(len(shown), len(fr))),
                      height=max(380, 300 * n_rows + 80))
    return fig


def ranks_of(key: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Each of ``rows``' 1-based rank in a stable ascending sort of ``key`` (ties: the lower
    index first), without sorting every index: a sort of the values and a search per row
    (the stable argsort of 100,000 values was a quarter of the rank chart's build)."""
    if np.isnan(key).any():  # NaN sorts last, in index order: the full sort says it plainly
        ranks = np.empty(len(key), dtype=np.int64)
        ranks[np.argsort(key, kind="stable")] = np.arange(1, len(key) + 1)
        return ranks[rows]
    srt = np.sort(key)
    vals = key[rows]
    lo = np.searchsorted(srt, vals, side="left")
    hi = np.searchsorted(srt, vals, side="right")
    ties = np.array([np.count_nonzero(key[:i] == key[i]) if h - l > 1 else 0
                     for i, l, h in zip(rows.tolist(), lo, hi)], dtype=np.int64)
    return lo + ties + 1


def _lanes(spans, now) -> list[int]:
    """Each span's lane: the first lane free at its start (greedy interval partitioning), so
    lanes are the concurrent slots the trials ran in and gaps in a lane are idle time."""
    free_at: list = []
    out = []
    for sp in spans:
        end = sp.finished_at or now
        for k, t in enumerate(free_at):
            if t <= sp.started_at:
                free_at[k] = end
                out.append(k)
                break
        else:
            free_at.append(end)
            out.append(len(free_at) - 1)
    return out


STATUS_COLOURS = {TrialStatus.COMPLETED: "#2e7d32", TrialStatus.EARLY_STOPPED: "#ef6c00",
                  TrialStatus.ERROR: "#c62828", TrialStatus.RUNNING: "#1565c0",
                  TrialStatus.INTERRUPTED: "#757575", TrialStatus.PAUSED: "#6a1b9a"}


def _worker_lanes(spans, now) -> list[str]:
    """Each span's lane label: its node and slot where the trial recorded them (one lane per
    slot of each node), else a slot of the trials with no recorded place (greedy lanes)."""
    hosts: dict[str, set] = {}
    for sp in spans:
        if sp.node_id:
            hosts.setdefault(sp.node_host or "?", set()).add(sp.node_id)

    def node_label(sp) -> str:
        host = sp.node_host or "?"
        # Several Ray nodes on one host (or hosts of one name): the node id tells them apart.
        return f"{host} {sp.node_id[:6]}" if len(hosts.get(host, ())) > 1 else host

    unplaced = [i for i, sp in enumerate(spans) if not (sp.node_id and sp.slot is not None)]
    loose = dict(zip(unplaced, _lanes([spans[i] for i in unplaced], now)))
    prefix = "node unknown · slot" if len(unplaced) < len(spans) else "slot"
    return [f"{prefix} {loose[i]}" if i in loose else f"{node_label(sp)} · slot {sp.slot}"
            for i, sp in enumerate(spans)]


def slot_use(spans, now) -> tuple[list, list, float | None]:
    """Trials running at each moment (a step line's x and y) and the share of slot-time busy
    between the first start and the last end (slots: the most trials that ran at once)."""
    events = sorted([(sp.started_at, 1) for sp in spans] +
                    [(sp.finished_at, -1) for sp in spans if sp.finished_at is not None],
                    key=lambda e: (e[0], e[1]))
    xs, ys, running = [], [], 0
    for t, step in events:
        running += step
        xs.append(t)
        ys.append(running)
    if running:  # trials still running: the line goes on to now
        xs.append(now)
        ys.append(running)
    first, last = xs[0], xs[-1]
    slots = max(ys)
    wall = (last - first).total_seconds()
    busy = sum(((sp.finished_at or now) - sp.started_at).total_seconds() for sp in spans)
    return xs, ys, (busy / (slots * wall) if wall > 0 and slots else None)


def timeline(store, study_id: int) -> go.Figure:
    """Trials over time: one bar per trial from start to end, one lane per worker slot (a
    node's concurrent slots, as the trials recorded where they ran; a gap in a lane is that
    slot standing idle), coloured by status; above, the trials running at each moment and
    the share of slot-time busy. Only a running trial extends to now; one that ended without
    a recorded end stops at its last known time (trial_spans). At most MAX_SPANS trials (the
    latest)."""
    study = get_study(store, study_id)
    title = f"Timeline: {study.name}"
    spans = trial_spans(store, study.id, latest=MAX_SPANS)
    if not spans:
        return empty(title, study)
    total = started_count(store, study.id) if len(spans) == MAX_SPANS else len(spans)
    note = f"the latest {MAX_SPANS:,} of {total:,} trials" if total > MAX_SPANS else ""
    now = utcnow()
    lanes = _worker_lanes(spans, now)
    order = sorted(set(lanes), key=_lane_key)
    xs, ys, busy = slot_use(spans, now)
    if busy is not None:
        note = "; ".join(x for x in (note, f"slots busy {busy:.0%} of the time from the first "
                                            "start to the last end") if x)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.22, 0.78],
                        vertical_spacing=0.04)
    fig.add_trace(go.Scatter(x=[x.isoformat() for x in xs], y=ys, mode="lines", name="running",
                             line={"shape": "hv", "color": "#1565c0"}, showlegend=False,
                             hovertemplate="%{y} running<extra></extra>"), row=1, col=1)
    by_status: dict[str, list[int]] = {}
    for i, sp in enumerate(spans):
        by_status.setdefault(sp.status, []).append(i)
    for status, idx in by_status.items():
        ms = [max(1.0, ((spans[i].finished_at or now) - spans[i].started_at).total_seconds() * 1000)
              for i in idx]
        fig.add_trace(go.Bar(
            base=[spans[i].started_at.isoformat() for i in idx], x=ms, y=[lanes[i] for i in idx],
            orientation="h", name=status, customdata=[spans[i].number for i in idx],
            marker={"color": STATUS_COLOURS.get(status, "#9e9e9e")},
            hovertemplate="trial %{customdata} on %{y}: %{x:,.0f} ms<extra>" + status + "</extra>"),
            row=2, col=1)
    fig.update_layout(title=mktitle(title, note), barmode="overlay",
                      height=max(360, min(1300, 200 + 22 * len(order))))
    fig.update_xaxes(type="date", nticks=6)  # two-line date labels: room for about six
    fig.update_xaxes(title_text="time (UTC)", row=2, col=1)
    fig.update_yaxes(title_text="running", rangemode="tozero", **int_axis(max(ys)), row=1, col=1)
    fig.update_yaxes(title_text="worker (node · slot)", type="category", categoryorder="array",
                     categoryarray=order, autorange="reversed", row=2, col=1)
    return fig


def _lane_key(label: str):
    """Lanes by node, then by slot number (slot 10 after slot 9)."""
    head, _, k = label.rpartition(" ")
    return (head, int(k) if k.isdigit() else 0)
