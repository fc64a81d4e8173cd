"""Prometheus ``/metrics``: the service's state, read from SQL at scrape time.

* ``hpsearch_studies{status}``: studies per status (QUEUED and RUNNING are the queue);
* ``hpsearch_trials_running``: trials RUNNING in running studies;
* ``hpsearch_studies_waiting_for_node``: running studies whose trials no node of the
  cluster can run (``Study.waiting``: a node that fits has to join; alert when it stays);
* ``hpsearch_trial_duration_seconds{status}``: a histogram of finished trials'
  durations, counted in SQL (so every web replica reports the same numbers);
* ``hpsearch_result_write_seconds``: result write latency. Results are written by
  the study driver processes, not by this one: it appears here only when this
  process can read the drivers' metrics files (``$HPSEARCH_METRICS_DIR``, set by
  ``hpsearch serve``, or a folder shared with the dispatcher). Otherwise scrape
  the dispatcher's ``--metrics-port``.
"""
from __future__ import annotations

import os

from flask import Blueprint, Response, current_app
from sqlalchemy import and_, case, extract, func, select

from hpsearch.store import StudyStatus, TrialStatus
from hpsearch.store.models import Study, Trial
from hpsearch.settings import settings
from webui.queries import store

bp = Blueprint("metrics", __name__)

DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 12 * 3600, 24 * 3600)
TIMED = TrialStatus.DONE  # the trials this service ran to their end


class SqlCollector:
    """Gauges and a histogram computed by a few aggregate queries per scrape."""

    def __init__(self, app_store):
        self.store = app_store

    def _duration(self):
        if self.store.engine.dialect.name == "postgresql":
            return extract("epoch", Trial.finished_at - Trial.started_at)
        return (func.julianday(Trial.finished_at) - func.julianday(Trial.started_at)) * 86400.0

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

        dur = self._duration()
        with self.store.session() as s:
            studies = {k: v for k, v in s.execute(select(Study.status, func.count())
                                                  .group_by(Study.status))}
            running = s.scalar(select(func.count()).select_from(Trial).join(Study).where(
                Trial.status == TrialStatus.RUNNING, Study.status == StudyStatus.RUNNING)) or 0
            stuck = s.scalar(select(func.count()).select_from(Study).where(
                Study.status == StudyStatus.RUNNING, Study.waiting.is_not(None))) or 0
            cols = [func.sum(case((dur <= b, 1), else_=0)) for b in DURATION_BUCKETS]
            rows = s.execute(select(Trial.status, func.count(), func.sum(dur), *cols)
                             .where(and_(Trial.status.in_(TIMED), Trial.started_at.is_not(None),
                                         Trial.finished_at.is_not(None)))
                             .group_by(Trial.status)).all()
        g = GaugeMetricFamily("hpsearch_studies", "Studies by status (QUEUED: waiting for a "
                              "dispatcher)", labels=["status"])
        for status in StudyStatus.ALL:
            g.add_metric([status], studies.get(status, 0))
        yield g
        yield GaugeMetricFamily("hpsearch_trials_running", "Trials running in running studies",
                                value=running)
        yield GaugeMetricFamily("hpsearch_studies_waiting_for_node",
                                "Running studies whose trials no node of the cluster can run "
                                "(a node that fits has to join)", value=stuck)
        h = HistogramMetricFamily("hpsearch_trial_duration_seconds",
                                  "Durations of finished trials (from SQL)", labels=["status"])
        by_status = {r[0]: r for r in rows}
        for status in TIMED:
            r = by_status.get(status)
            count = int(r[1]) if r else 0
            total = float(r[2] or 0.0) if r else 0.0
            cumulative = [(str(float(b)), int(r[3 + i] or 0) if r else 0)
                          for i, b in enumerate(DURATION_BUCKETS)]
            h.add_metric([status], cumulative + [("+Inf", count)], sum_value=total)
        yield h


def _registry():
    from prometheus_client import CollectorRegistry

    ext = current_app.extensions
    if "hpsearch_metrics" not in ext:
        registry = CollectorRegistry()
        registry.register(SqlCollector(store()))
        from webui.deployments import stats

        registry.register(stats())  # per-deployment prediction counts and latency
        path = settings().metrics_dir
        if path and os.path.isdir(path):
            from hpsearch.monitoring import multiprocess_registry

            multiprocess_registry(path, registry)
        ext["hpsearch_metrics"] = registry
    return ext["hpsearch_metrics"]


@bp.get("/metrics")
def metrics():
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return Response(generate_latest(_registry()), mimetype=CONTENT_TYPE_LATEST)
