"""A finished study's charts, stored as built: any web UI process serves them without
reading the study's trials.

A chart of a finished 1,000,000-trial study costs a new server process about a second the
first time (reading and decoding its chart frame, then building the figure), and every
process pays it again after a restart. A finished study's figures never change, so the
first process to build one stores it here (plotly JSON, zlib-compressed; one row per
study and chart) and the others read that row instead. Running studies are never stored:
their charts move with each result.

A row is used only for the same ``key`` (the chart's name, its options, and a fingerprint
of the code that builds figures, so an upgrade draws afresh) and the same ``version`` (the
study's state the figure shows: a resumed and finished-again study has another one).

The figures the study page opens with are built and stored when the study ends
(:func:`store_study`, from the driver's end of study), so that even the first view of a
finished study, in a process that never showed it, draws from stored figures.

    >>> get(store, study_id, key, version)                   # doctest: +SKIP
    >>> put(store, study_id, key, version, figure_json)       # doctest: +SKIP
    >>> store_study(store, study_id)                          # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import logging
import zlib
from functools import lru_cache
from pathlib import Path

from sqlalchemy import delete, func, select

from hpsearch.status import StudyStatus
from hpsearch.store.models import Study, StudyFigureRow, Trial, utcnow

log = logging.getLogger("hpsearch.figures")
_T = StudyFigureRow.__table__


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """What built the figures: the plot modules' source and plotly's version."""
    import plotly

    from hpsearch import plots

    h = hashlib.sha256(plotly.__version__.encode())
    for path in sorted(Path(plots.__file__).parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def study_version(store, study_id: int) -> tuple:
    """What changes whenever a study's charts would: one aggregate query.

    A finished study's trials no longer move (its driver wrote its last result before the
    study's status): its status, finish time and latest trial id suffice (a trial is never
    deleted alone, and one added later has a higher id). No count: at 1,000,000 trials
    counting them took 0.2-0.26 s on PostgreSQL for each chart request, max(id) 0.3 ms."""
    with store.session() as s:
        status, finished = s.execute(select(Study.status, Study.finished_at)
                                     .where(Study.id == study_id)).one()
        if status in StudyStatus.FINISHED:
            top = s.scalar(select(func.max(Trial.id)).where(Trial.study_id == study_id))
            return (status, str(finished), top)
        n, its, valued, last = s.execute(
            select(func.count(Trial.id), func.coalesce(func.sum(Trial.iterations), 0),
                   func.count(Trial.value), func.max(Trial.finished_at))
            .where(Trial.study_id == study_id)).one()
    return (status, n, int(its), valued, str(last))


def chart_key(name: str, options: dict) -> str:
    """The stored row's key of chart ``name`` drawn with ``options`` (its keyword options)."""
    return key_of((name, tuple(sorted(options.items()))))


def key_of(*parts) -> str:
    """A row's key: a hash of the chart's name and options and the code fingerprint."""
    return hashlib.sha256(repr((code_fingerprint(), *parts)).encode()).hexdigest()[:64]


def get(store, study_id: int, key: str, version: str) -> str | None:
    """The stored figure JSON, or None when there is none for this key and version."""
    return get_many(store, study_id, {key: version}).get(key)


def get_many(store, study_id: int, wanted: dict[str, str]) -> dict[str, str]:
    """The stored figures among ``wanted`` (key -> version), in one query: key -> JSON."""
    if not wanted:
        return {}
    with store.engine.connect() as conn:
        rows = conn.execute(select(_T.c.key, _T.c.version, _T.c.data)
                            .where(_T.c.study_id == study_id, _T.c.key.in_(list(wanted)))).all()
    return {key: zlib.decompress(bytes(data)).decode() for key, version, data in rows
            if wanted.get(key) == version}


def put(store, study_id: int, key: str, version: str, figure: str) -> None:
    """Store a finished study's figure (replacing one of another version). A reader without
    write rights, or a study deleted meanwhile, only loses the shortcut."""
    from hpsearch.store.writer import _upsert

    values = {"version": version[:200], "data": zlib.compress(figure.encode(), 6),
              "created_at": utcnow()}
    try:
        with store.engine.execution_options(sqlite_immediate=True).begin() as conn:
            if conn.scalar(select(Study.id).where(Study.id == study_id)) is None:
                return
            stmt = _upsert(store.engine.dialect.name)(_T).values(study_id=study_id, key=key, **values)
            conn.execute(stmt.on_conflict_do_update(index_elements=["study_id", "key"], set_=values))
    except Exception as exc:  # noqa: BLE001 - the figure was built and is served anyway
        log.warning("could not store a figure of study %s: %s", study_id, exc)


def forget(store, study_id: int) -> None:
    """Drop a study's stored figures (their study's results changed under them)."""
    with store.engine.begin() as conn:
        conn.execute(delete(_T).where(_T.c.study_id == study_id))


def due(store, study_id: int, min_trials: int = 0) -> bool:
    """Whether :func:`store_study` has figures to build: the study has ended with a best
    trial and has at least ``min_trials`` trials."""
    return _due_version(store, study_id, min_trials) is not None


def _due_version(store, study_id: int, min_trials: int) -> tuple | None:
    """The study's version when it has figures to build (see :func:`due`), else None."""
    version = study_version(store, study_id)
    if version[0] not in StudyStatus.FINISHED or version[2] is None:
        return None
    if min_trials > 1:
        with store.engine.connect() as conn:
            n = conn.scalar(select(func.count(Trial.id)).where(Trial.study_id == study_id))
        if n < min_trials:
            return None
    return version


def store_study(store, study_id: int, min_trials: int = 0) -> int:
    """Build and store the figures a finished study's page opens with
    (``plots.page_charts``), those not stored yet for its present state; how many were
    built. Called when the study ends, so that no page view builds them: at 100,000 trials
    a process that had to build them drew the page in 3.3-3.6 s, one that reads them 2 s.
    A study of fewer than ``min_trials`` trials (none: cancelled while queued) is left to
    its first view and imports nothing. A chart that cannot be built is logged and left to
    its first view."""
    version = _due_version(store, study_id, min_trials)
    if version is None:
        return 0
    import pandas  # noqa: F401 - before plotly (webui/cache.py figures_ready says why)

    from hpsearch import plots

    spec = store.get_study(study_id).spec
    wanted = {chart_key(name, options): (name, options)
              for name, options in plots.page_charts(spec).items()}
    ver = repr(version)
    with store.engine.connect() as conn:
        have = set(conn.scalars(select(_T.c.key).where(
            _T.c.study_id == study_id, _T.c.version == ver, _T.c.key.in_(list(wanted)))))
    built = 0
    for key, (name, options) in wanted.items():
        if key in have:
            continue
        try:
            figure = plots.PLOTS[name](store, study_id, **options).to_json()
        except Exception as exc:  # noqa: BLE001 - the study has ended: its page builds it
            log.warning("figure %s of study %s not built at its end: %s", name, study_id, exc)
            continue
        put(store, study_id, key, ver, figure)
        built += 1
    return built
