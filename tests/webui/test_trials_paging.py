"""The trials table's pages on both backends: a page read by its keys first (an index walk past
the offset, hpsearch/store/queries.py page) holds exactly the rows of the whole order, in every
sort, and sorted by value the walk past the offset is index-only (no sort of every trial)."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from hpsearch.store import StudyStatus, TrialStatus
from tests.webui.conftest import make_spec

SORTS = ("number", "value", "status", "iterations", "started", "finished", "param.lr",
         "param.optimizer")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'web.db'}"
    return request.getfixturevalue("pg_url")


def _study(store, n: int = 23) -> int:
    """``n`` trials: every fifth failed (no value), values tied in threes, two optimizers."""
    sid = store.create_study(make_spec("paging"), status=StudyStatus.RUNNING).id
    ops, t = [], time.time()
    for i in range(n):
        rid = f"p{i}"
        ops.append(("trial", sid, rid, i, {"lr": 0.001 * (i % 4 + 1), "dropout": 0.1,
                                           "optimizer": ("adam", "sgd")[i % 2]},
                    TrialStatus.RUNNING, t + i % 7))
        if i % 5 == 4:
            ops.append(("status", sid, rid, TrialStatus.ERROR, {"error": "x"}, t + 10))
        else:
            ops.append(("status", sid, rid, TrialStatus.COMPLETED, {"value": float(i % 3)},
                        t + 10 + i % 6))
    store.apply(ops)
    return sid


def _numbers(client, sid: int, query: str) -> list[int]:
    return [d["number"] for d in client.get(f"/api/v1/studies/{sid}/trials?{query}").json["items"]]


def test_every_page_in_every_sort_holds_the_rows_of_the_whole_order(client, store):
    sid = _study(store)
    for sort in [s for key in SORTS for s in (key, "-" + key)]:
        for status in ("", "&status=COMPLETED"):
            whole = _numbers(client, sid, f"sort={sort}&per_page=100{status}")
            assert len(whole) == (23 if not status else 19)
            got = [n for page in range(1, -(-len(whole) // 5) + 1)
                   for n in _numbers(client, sid, f"sort={sort}&per_page=5&page={page}{status}")]
            assert got == whole, (sort, status)
    # Sorted by value: NULL values last either way, ties to the lower number.
    values = {i: (None if i % 5 == 4 else float(i % 3)) for i in range(23)}
    for sort, sign in (("value", 1), ("-value", -1)):
        want = sorted(values, key=lambda i: (values[i] is None, sign * (values[i] or 0), i))
        got = [n for page in range(1, 6) for n in _numbers(client, sid, f"sort={sort}&per_page=5&page={page}")]
        assert got == want, sort


def _plans(store, client, sid: int, sort: str) -> list[str]:
    """The plan of each statement with an OFFSET that the trials API runs for a middle page."""
    seen: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if "OFFSET" in statement.upper():
            seen.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", keep)
    try:
        assert client.get(f"/api/v1/studies/{sid}/trials?sort={sort}&per_page=3&page=3").status_code == 200
    finally:
        event.remove(Engine, "before_cursor_execute", keep)
    assert seen, "no statement with an OFFSET ran"
    out = []
    with store.engine.connect() as c:
        for statement, parameters in seen:
            if store.is_sqlite:
                rows = c.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
                out.append("\n".join(r[-1] for r in rows))
            else:
                # The plan the index allows, whatever the planner would pick for 23 rows.
                for setting in ("enable_seqscan", "enable_sort", "enable_bitmapscan"):
                    c.exec_driver_sql(f"SET {setting} = off")
                rows = c.exec_driver_sql("EXPLAIN " + statement, parameters).all()
                out.append("\n".join(r[0] for r in rows))
    return out


def test_a_middle_page_by_value_walks_an_index_past_the_offset_without_a_sort(client, store):
    sid = _study(store)
    if not store.is_sqlite:
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE trials")  # the visibility map an index-only scan reads
    for sort in ("value", "-value"):
        plans = _plans(store, client, sid, sort)
        assert len(plans) == 1, plans
        plan = plans[0]
        if store.is_sqlite:
            assert "COVERING INDEX ix_trials_study_value_" in plan, plan
        else:
            assert "Index Only Scan" in plan and "ix_trials_study_value_" in plan, plan
            # the only sort left is of the page's own rows, above the walk past the offset
            limit_at = plan.index("Limit")
            assert "Sort" not in plan[limit_at:], plan
