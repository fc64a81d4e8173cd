"""A small per-app cache of chart JSON, keyed by (study, its last update, chart, args).

A finished study's charts never change; a running study's change with each
result. The key holds a cheap version of the study read in SQL (trial count,
sum of iterations, values set, last finish, status), so an entry is reused
until the study moves and is never served stale. Below this per-process cache,
a finished study's figures are also stored in SQL, at its end or as first built
(:func:`stored_figure`), so that a new server process serves them at once. The
study's version is ``hpsearch.store.figures.study_version``.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Hashable

from hpsearch.status import StudyStatus


class ChartCache:
    def __init__(self, size: int = 128):
        self.size = size
        self._items: OrderedDict[Hashable, str] = OrderedDict()
        self._lock = threading.Lock()

    def has(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def get(self, key: Hashable) -> str | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: Hashable, value: str) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def get_or_build(self, key: Hashable, build: Callable[[], str]) -> str:
        value = self.get(key)
        if value is None:
            figures_ready()
            value = build()  # outside the lock: two threads may build the same chart once each
            self.put(key, value)
        return value


def chart_key(study_id: int, name: str, options: dict, version: tuple) -> tuple:
    """A chart's cache key: the study, the chart, its options and the study's version."""
    return (study_id, name, tuple(sorted(options.items())), version)


def ready_figures(store, charts: ChartCache, study_id: int, wanted: dict[str, dict],
                  version: tuple) -> dict[str, str]:
    """The figures among ``wanted`` (chart name -> its options) that need no building: this
    process's cached ones and, for a finished study, the ones stored in SQL (one query; they
    join the cache). The study page writes them into itself, so that the browser draws them
    without a request each (nine at 100,000 trials, each paying a round trip and the
    server's per-request work while plotly.js waits behind them)."""
    out: dict[str, str] = {}
    missing: dict[str, tuple] = {}  # name -> its cache key
    for name, options in wanted.items():
        key = chart_key(study_id, name, options, version)
        got = charts.get(key)
        if got is not None:
            out[name] = got
        elif version[0] in StudyStatus.FINISHED:
            missing[name] = key
    if missing:
        from hpsearch.store import figures

        keys = {figures.chart_key(name, wanted[name]): name for name in missing}
        stored = figures.get_many(store, study_id, dict.fromkeys(keys, repr(version)))
        for fkey, body in stored.items():
            name = keys[fkey]
            charts.put(missing[name], body)
            out[name] = body
    return out


def figures_ready() -> None:
    """Import pandas before building a figure: plotly looks pandas up in ``sys.modules``
    without the import lock, so a thread building a figure while another imports pandas
    sees a half-initialised module (AttributeError, a 500). An import statement waits for
    the other thread's import to finish."""
    import pandas  # noqa: F401


def stored_figure(store, study_id: int, name: str, options: dict, version: tuple,
                  build: Callable[[], str]) -> str:
    """``build()``, or for a finished study the figure stored at its end or when it was
    first built (and stored now if none was): a finished study's charts never change, and
    one of a 1,000,000-trial study takes a fresh process about a second to build."""
    if version[0] not in StudyStatus.FINISHED:
        return build()
    from hpsearch.store import figures

    key, ver = figures.chart_key(name, options), repr(version)
    got = figures.get(store, study_id, key, ver)
    if got is None:
        got = build()
        figures.put(store, study_id, key, ver, got)
    return got
