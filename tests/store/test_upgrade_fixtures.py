"""Every released schema, frozen as a small SQLite file with data, upgrades to head intact.

A fixture is ``tests/store/fixtures/<revision>.sqlite`` with the rows it holds in
``<revision>.json`` (both made by ``make_fixture.py``); every pair present is tested.
"""
from __future__ import annotations

import json
import shutil
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select

from hpsearch.store import Store, TrialStatus, migrate

FIXTURES = Path(__file__).parent / "fixtures"
REVISIONS = sorted(p.stem for p in FIXTURES.glob("*.sqlite"))
# Columns a later migration removed on purpose: (table, column) -> the migration.
DROPPED = {("users", "session_version"): "0005_session_keys"}  # now a random session_key


def test_there_is_a_fixture_of_the_first_schema():
    assert "0001_initial" in REVISIONS


def _plain(v):
    return v.isoformat(sep=" ") if isinstance(v, datetime) else v


@pytest.mark.parametrize("revision", REVISIONS)
def test_frozen_database_upgrades_to_head_with_its_data(revision, tmp_path):
    db = tmp_path / "old.sqlite"
    shutil.copy(FIXTURES / f"{revision}.sqlite", db)
    url = f"sqlite:///{db}"
    from sqlalchemy import create_engine

    engine = create_engine(url)
    assert migrate.current_revision(engine) == revision  # the file is what its name says
    engine.dispose()

    store = Store(url)  # an embedded SQLite database upgrades itself
    assert migrate.current_revision(store.engine) == migrate.head_revision()
    expected = json.loads((FIXTURES / f"{revision}.json").read_text())
    meta = MetaData()
    meta.reflect(store.engine)
    rows = 0
    with store.engine.connect() as conn:
        for table, want in expected.items():
            t = meta.tables[table]
            got = {r.id: r._asdict() for r in conn.execute(select(t))}
            assert sorted(got) == [w["id"] for w in want], table
            for w in want:
                kept = {k: v for k, v in w.items() if (table, k) not in DROPPED}
                assert {k: _plain(got[w["id"]][k]) for k in kept} == kept, (table, w["id"])
                rows += 1
    # ...and the upgraded database works: reads through the models, new writes.
    (study, queued) = sorted(store.list_studies(), key=lambda s: s.id)
    # (a list never loads specs: one study's is read on its own)
    assert store.get_study(study.id).spec["name"] == "frozen-α" and queued.name == "queued <b>"
    trials = store.trials(study.id)
    assert [t.status for t in trials] == ["COMPLETED", "ERROR", "INTERRUPTED"]
    store.apply([("rerun", study.id, "b_00000", 2, time.time()),
                 ("result", study.id, "b_00000", 2, 0.7, {"val_accuracy": 0.7}, time.time()),
                 ("status", study.id, "b_00000", TrialStatus.COMPLETED, {"value": 0.7},
                  time.time())])
    assert store.trials(study.id)[2].status == TrialStatus.COMPLETED
    assert [r.iteration for r in store.results(trials[2].id)] == [1, 2]
    store.dispose()
    from tests.reliability.conftest import record

    record(f"schema_fixture_{revision}", rows_checked=rows, upgraded_to=migrate.head_revision(),
           lost=0)
