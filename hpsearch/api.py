"""The Python API for notebooks and scripts.

    >>> import hpsearch
    >>> study = hpsearch.run("examples/quickstart.yaml")      # doctest: +SKIP
    >>> study.best_trial.params, study.best_value             # doctest: +SKIP
    >>> df = study.to_dataframe()                             # doctest: +SKIP
    >>> hpsearch.load_study("cnn-digits").trials              # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import trainables
from hpsearch.store import Store, StudyStatus, TrialStatus, queries


@dataclass
class TrialInfo:
    number: int
    status: str
    params: dict
    value: float | None
    best_value: float | None
    iterations: int
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None = None
    imported_from: str | None = None
    id: int | None = field(default=None, repr=False)
    values: dict = field(default_factory=dict)  # objectives and constrained metrics (several)
    node_id: str | None = None    # where it ran: the Ray node, its host and IP, and the slot
    node_host: str | None = None
    node_ip: str | None = None
    slot: int | None = None
    store: Store | None = field(default=None, repr=False, compare=False)

    @classmethod
    def of(cls, t, store: Store | None = None) -> "TrialInfo":
        """From a store row (``store``: where its media and log are read)."""
        return cls(number=t.number, status=t.status, params=t.params, value=t.value,
                   best_value=t.best_value, iterations=t.iterations, started_at=t.started_at,
                   finished_at=t.finished_at, error=t.error, imported_from=t.imported_from, id=t.id,
                   values=dict(t.values or {}), node_id=t.node_id, node_host=t.node_host,
                   node_ip=t.node_ip, slot=t.slot, store=store)

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    def media(self, name: str | None = None) -> list[dict]:
        """The media this trial recorded (``hpsearch.log_image`` / ``log_figure``, and the
        built-in families'): ``{"name", "step", "kind", "value"}`` by name then step, where
        ``value`` is an HxWxC uint8 array (an image) or a plotly Figure.

        >>> study.best_trial.media("samples")[-1]["value"].shape   # doctest: +SKIP
        (94, 94, 3)
        """
        from hpsearch import media as media_files
        from hpsearch.store.outputs import trial_media

        return [{"name": m.name, "step": m.step, "kind": m.kind,
                 "value": media_files.load(m.kind, m.path)}
                for m in trial_media(self.store, self.id) if name is None or m.name == name]

    def log(self) -> str:
        """What the trial printed (stdout, stderr, logging), its cut marked when it was long."""
        from hpsearch.store.outputs import trial_log

        return trial_log(self.store, self.id).text()


class Study:
    """A study read from the store. Attributes re-read the database on access."""

    def __init__(self, store: Store, study_id: int):
        self.store = store
        self.id = study_id

    def __repr__(self) -> str:
        return f"<Study {self.name!r} {self.status} trials={len(self.trials)}>"

    @property
    def _row(self):
        return self.store.get_study(self.id)

    @property
    def name(self) -> str:
        return self._row.name

    @property
    def status(self) -> str:
        return self._row.status

    @property
    def spec(self) -> dict:
        return self._row.spec

    @property
    def metric(self) -> str:
        return self._row.metric

    @property
    def mode(self) -> str:
        return self._row.mode

    @property
    def init_source(self) -> dict | None:
        """Cold start: the trial every trial started from (study, trial, checkpoint, ...), or None."""
        return self._row.init_source

    @property
    def warm_start_picked(self) -> list[dict] | None:
        """``warm_start: auto``: the earlier studies picked, each with the reason; else None."""
        return self._row.warm_start_picked

    @property
    def error(self) -> str | None:
        return self._row.error

    @property
    def end_reason(self) -> str | None:
        """Why the finished study ended, in words (its budget ran, its time limit passed, a
        cancel); None while it has not ended."""
        return self._row.end_reason

    @property
    def waiting(self) -> str | None:
        """While it runs on a cluster: what its trials wait for when no node can run one
        (a node that fits has to join); None otherwise."""
        return self._row.waiting

    @property
    def trials(self) -> list[TrialInfo]:
        return [TrialInfo.of(t, self.store) for t in self.store.trials(self.id)]

    def trial(self, number: int) -> TrialInfo:
        """One trial by its number (``study.trial(3).media()``, ``.log()``)."""
        return TrialInfo.of(self.store.get_trial(self.id, number), self.store)

    @property
    def best_trial(self) -> TrialInfo | None:
        """The scored trial (COMPLETED or EARLY_STOPPED, never an imported one) with the best
        value, ties to the lower number (:func:`hpsearch.store.queries.best_trial`)."""
        best = queries.best_trial(self.store, self._row)
        return TrialInfo.of(best, self.store) if best else None

    @property
    def best_value(self) -> float | None:
        return queries.summary(self.store, self._row).best_value

    @property
    def pareto_front(self) -> list[TrialInfo]:
        """The feasible non-dominated trials, ranked by the primary objective (best first);
        each with ``values`` (its objectives and constrained metrics). See
        :mod:`hpsearch.store.fronts` for the rule; ``pareto()`` has the whole view."""
        by_number = {t.number: t for t in self.trials}
        return [by_number[p.number] for p in self.pareto().front]

    def pareto(self):
        """The :class:`hpsearch.store.fronts.ParetoView`: every scored trial with its values,
        feasibility and rank, the front, the reference point and the hypervolume history."""
        from hpsearch.store.fronts import pareto

        return pareto(self.store, self._row)

    def plot_pareto(self, objectives: list[str] | None = None):
        """The front in objective space: 2-D, or 3-D for three objectives (or three chosen)."""
        from hpsearch import plots
        return plots.pareto_front(self.store, self.id, objectives)

    def plot_hypervolume(self):
        from hpsearch import plots
        return plots.hypervolume_history(self.store, self.id)

    @property
    def counts(self) -> queries.Counts:
        """Trials by status, with ``done`` (toward the budget), ``imported`` and ``total``."""
        return queries.counts(self.store, self.id)

    def results(self, number: int) -> list[dict]:
        """Every result trial ``number`` reported: ``{"iteration": i, **metrics}``."""
        trial = self.store.get_trial(self.id, number)
        return [{"iteration": r.iteration, **r.metrics} for r in self.store.results(trial.id)]

    def to_dataframe(self):
        """One row per trial: number, status, value, duration_s, then ``param_*`` columns."""
        import pandas as pd

        # The same rows as the web UI's export (one definition: queries.table_row).
        return pd.DataFrame([queries.table_row(t, self.metric) for t in self.trials])

    def plot_history(self, metric: str | None = None):
        """Each trial's value by number; ``metric``: any reported metric instead."""
        from hpsearch import plots
        return plots.optimization_history(self.store, self.id, metric)

    def plot_edf(self, metric: str | None = None):
        """The share of finished trials with a value at most x."""
        from hpsearch import plots
        return plots.edf(self.store, self.id, metric)

    def plot_rank(self):
        """Each finished trial's rank (1 = best) against each parameter."""
        from hpsearch import plots
        return plots.rank_plot(self.store, self.id)

    def plot_timeline(self):
        """Trials over time in lanes of concurrent slots (gaps: idle slots)."""
        from hpsearch import plots
        return plots.timeline(self.store, self.id)

    def plot_parallel_coordinates(self):
        from hpsearch import plots
        return plots.parallel_coordinates(self.store, self.id)

    def plot_importance(self):
        from hpsearch import plots
        return plots.param_importance(self.store, self.id)

    def plot_learning_curves(self, metric: str | None = None):
        from hpsearch import plots
        return plots.learning_curves(self.store, self.id, metric)

    def plot_slice(self):
        from hpsearch import plots
        return plots.slice_plot(self.store, self.id)

    def plot_contour(self, x: str | None = None, y: str | None = None):
        """The value over params ``x`` and ``y`` (the first two numeric ones by default)."""
        from hpsearch import plots
        return plots.contour(self.store, self.id, (x, y) if x or y else None)

    def plot_trial(self, number: int):
        """Every metric trial ``number`` reported, one panel each."""
        from hpsearch import plots
        return plots.trial_metrics(self.store, self.id, number)

    def plot_compare_trials(self, numbers: list[int]):
        """The learning curves of the chosen trials, overlaid (as the web UI's compare view)."""
        from hpsearch import plots
        return plots.compare_trials(self.store, self.id, numbers)

    def export(self, out: str, *, trial: int | str = "best", format: str = "torchscript") -> dict:
        """Write trial ``trial``'s model and model card to ``out``; returns the card.

            >>> study.export("model/", format="onnx")["sha256"]    # doctest: +SKIP
        """
        from hpsearch.export import export_trial

        return export_trial(self.store, self.id, trial, fmt=format, out=out)

    def wait(self, timeout: float | None = None, *, poll: float = 1.0) -> "Study":
        """Block until the study is COMPLETED, FAILED or CANCELLED; TimeoutError after ``timeout``."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while (status := self.status) not in StudyStatus.FINISHED:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"study {self.id} is still {status} after {timeout} s")
            time.sleep(poll)
        return self

    def cancel(self) -> str:
        """Cancel a queued study, or ask a running one to stop; returns its status."""
        return self.store.request_cancel(self.id)


def submit(spec: Any, server: str | None = None, *, db: str | None = None,
           ray_address: str | None = None, progress: bool = True, token: str | None = None):
    """Queue ``spec`` on a service, or run it here.

    With a server (``server``, else ``$HPSEARCH_SERVER`` or the config file,
    unless ``db`` is given) the study is queued and a
    :class:`~hpsearch.client.RemoteStudy` returns at once. Without one the
    search runs here to its end (as :func:`run`) and the finished
    :class:`Study` returns. Both have ``id``, ``status``, ``wait(timeout)``
    and ``cancel()``.

        >>> h = hpsearch.submit("spec.yaml", server="http://hpsearch:8080")  # doctest: +SKIP
        >>> h.wait(timeout=3600).status                                      # doctest: +SKIP
    """
    from hpsearch.client import Client, resolve_server

    server = server or (None if db else resolve_server())
    if server:
        return Client(server, token).submit(spec)
    return run(spec, db=db, ray_address=ray_address, progress=progress)


def run(spec: Any, *, db: str | None = None, ray_address: str | None = None,
        progress: bool = True) -> Study:
    """Validate ``spec`` (a dict, a YAML/JSON path or text) and run it to the end here."""
    from hpsearch.orchestration import run_study

    store = Store(db)
    row = run_study(spec, store=store, ray_address=ray_address, progress=progress)
    return Study(store, row.id)


def resume(name: str, *, db: str | None = None, ray_address: str | None = None,
           progress: bool = True) -> Study:
    """Continue a study whose driver stopped (see ``hpsearch resume``)."""
    from hpsearch.orchestration import resume_study

    store = Store(db)
    row = resume_study(name, store=store, ray_address=ray_address, progress=progress)
    return Study(store, row.id)


def load_study(name: str | int, *, db: str | None = None) -> Study:
    """A study already in the database, by name or id."""
    store = Store(db)
    return Study(store, store.get_study(name).id)


def list_studies(*, db: str | None = None) -> list[Study]:
    store = Store(db)
    return [Study(store, s.id) for s in store.list_studies()]


def compare(studies: list[str | int], *, db: str | None = None):
    """Best-so-far curves of several studies on one axis (the web UI's compare chart).

        hpsearch.compare(["cnn-random", "cnn-bayes"]).show()
    """
    from hpsearch import plots

    store = Store(db)
    return plots.compare_history(store, [store.get_study(ref).id for ref in studies])


def export_model(study: str | int, out: str, *, trial: int | str = "best",
                 format: str = "torchscript", db: str | None = None) -> dict:
    """Export a trial's model (``torchscript``, ``onnx`` or ``state_dict``) with its model
    card into folder ``out`` (as ``hpsearch export``); returns the card as a dict."""
    return load_study(study, db=db).export(out, trial=trial, format=format)


trainable = trainables.trainable  # @hpsearch.trainable: one decorator, in the light registry


__all__ = ["Study", "TrialInfo", "submit", "run", "resume", "load_study", "list_studies", "compare",
           "trainable", "export_model",
           "StudyStatus", "TrialStatus"]
