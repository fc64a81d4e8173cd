"""Structured logs and Prometheus metrics of the service processes.

* ``setup_logging("json")``: one JSON object per log line (``ts``, ``level``,
  ``logger``, ``message`` and the record's extra fields such as ``event`` and
  ``study_id``), for the dispatcher and its drivers.
* Result write latency is measured where results are written: in each study's
  driver process (the Store writer). A driver is a short-lived process of its
  own, so it records into prometheus_client's multiprocess files in a folder
  that its dispatcher names (``HPSEARCH_METRICS_DIR``); the dispatcher's
  ``--metrics-port`` (and the web UI of ``hpsearch serve``) read them back.
  Gauges of queued/running studies and trial durations come from SQL at scrape
  time (webui/metrics.py), so every web replica reports the same numbers.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time

METRICS_DIR_ENV = "HPSEARCH_METRICS_DIR"
WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_STD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., "message": ..., **extra}`` per line."""

    def format(self, record: logging.LogRecord) -> str:
        d = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                   + f".{int(record.msecs):03d}Z",
             "level": record.levelname.lower(), "logger": record.name,
             "message": record.getMessage(), "pid": record.process}
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                d[key] = value
        if record.exc_info:
            d["exc"] = self.formatException(record.exc_info)
        return json.dumps(d, default=str)


def setup_logging(fmt: str = "text", level: int = logging.INFO) -> None:
    """Log to stderr as text or as JSON lines (``fmt="json"``), replacing other handlers."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # a schema check per process


# -- the driver side: write latency into multiprocess files ---------------------------------
def record_write_latency(study_id: int) -> bool:
    """In a driver process: observe every Store writer batch into a Prometheus histogram.

    Needs ``HPSEARCH_METRICS_DIR`` (set by the dispatcher); returns False without it.
    Must run before anything imports prometheus_client in this process.
    """
    from hpsearch.settings import settings

    path = settings().metrics_dir
    if not path or not os.path.isdir(path):
        return False
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    try:
        from prometheus_client import Histogram, values

        if values.ValueClass.__name__ == "MutexValue":  # imported earlier, single-process mode
            return False
        hist = Histogram("hpsearch_result_write_seconds",
                         "Seconds to commit one batch of trial results and events to SQL "
                         "(measured in the study driver processes)", buckets=WRITE_BUCKETS)
    finally:
        # Its files are open now; processes it starts (a local Ray) must not inherit the folder.
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    from hpsearch.store import writer

    observers = getattr(writer, "LATENCY_OBSERVERS", None)
    if observers is None:
        return False
    observers.append(hist.observe)
    return True


def multiprocess_registry(path: str, registry=None):
    """A registry (new or given) that also reads the drivers' multiprocess files in ``path``."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = registry or CollectorRegistry()
    MultiProcessCollector(registry, path=path)
    return registry


# -- the dispatcher's own endpoint ------------------------------------------------------------
class DispatcherCollector:
    """Live figures of one dispatcher, read at scrape time."""

    def __init__(self, dispatcher):
        self.dispatcher = dispatcher
        self._pool = None  # hpsearch.pool.RayPool, with a Ray address

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        d = self.dispatcher
        g = GaugeMetricFamily("hpsearch_dispatcher_running_studies",
                              "Studies this dispatcher is running now", labels=["dispatcher"])
        g.add_metric([d.name], len(d.drivers))
        yield g
        g = GaugeMetricFamily("hpsearch_dispatcher_max_studies",
                              "Studies this dispatcher runs at once at most", labels=["dispatcher"])
        g.add_metric([d.name], d.max_studies)
        yield g
        c = CounterMetricFamily("hpsearch_dispatcher_claims", "Studies claimed by this dispatcher",
                                labels=["dispatcher", "kind"])
        for kind, n in d.claims.items():
            c.add_metric([d.name, kind], n)
        yield c
        yield self.pool()

    def pool(self):
        """``hpsearch_pool_resources{resource, kind}`` (hpsearch/pool.py), read now."""
        from prometheus_client.core import GaugeMetricFamily

        from hpsearch import pool

        d = self.dispatcher
        if self._pool is None and d.ray_address:
            self._pool = pool.RayPool(d.ray_address)
        g = GaugeMetricFamily("hpsearch_pool_resources",
                              "The Ray pool's resources (kind total, available, used) against "
                              "what running studies ask for at once (kind requested)",
                              labels=["resource", "kind"])
        try:
            figures = pool.occupancy(d.store, self._pool)
        except Exception:  # noqa: BLE001 - a database blip: this scrape goes without them
            log = logging.getLogger("hpsearch.pool")
            log.exception("pool occupancy not read")
            figures = {}
        for (resource, kind), amount in sorted(figures.items()):
            g.add_metric([resource, kind], amount)
        return g


def serve_dispatcher_metrics(dispatcher, host: str, port: int):
    """Serve ``/metrics`` for ``dispatcher`` (plus its drivers' write latency) on host:port."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry()
    registry.register(DispatcherCollector(dispatcher))
    if dispatcher.metrics_dir:
        multiprocess_registry(dispatcher.metrics_dir, registry)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
