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

    >>> get(store, study_id, key, version)                   # doctest: +SKIP
    >>> put(store, study_id, key, version, figure_json)       # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import logging
import zlib
from functools import lru_cache
from pathlib import Path

from sqlalchemy import delete, select

from hpsearch.store.models import Study, StudyFigureRow, utcnow

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
