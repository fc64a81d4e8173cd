"""Pool occupancy (hpsearch/pool.py): what running studies ask of the pool at once, from SQL.
The cluster side (total and available, from Ray's GCS) is checked with real Ray nodes in
tests/service/test_dispatchers.py and tests/service/test_elastic.py."""
from __future__ import annotations

import time

from hpsearch import pool
from hpsearch import spec as specmod
from hpsearch.store import Store, StudyStatus, TrialStatus
from tests.helpers import quad_spec


def test_requested_is_each_running_studys_request_times_what_it_would_run_at_once(sqlite_url):
    store = Store(sqlite_url)
    a = store.create_study(specmod.load(quad_spec(
        "a", budget={"trials": 10, "max_concurrent": 3},
        resources={"cpu": 2, "gpu": 0.5, "gpu_memory_gb": 8, "custom": {"A100": 1}})))
    b = store.create_study(specmod.load(quad_spec("b", budget={"trials": 4, "max_concurrent": 4})))
    store.create_study(specmod.load(quad_spec("queued")))  # not running: asks for nothing yet
    for row in (a, b):
        store.set_study_status(row.id, StudyStatus.RUNNING)
    t = time.time()
    # b has 3 of its 4 trials done: it would run one more at once, not four
    store.apply([op for i in range(3) for op in (
        ("trial", b.id, f"b{i}", i, {"x": 0.0}, TrialStatus.RUNNING, t),
        ("status", b.id, f"b{i}", TrialStatus.COMPLETED, {"value": 1.0}, t + 1))])
    got = pool.requested(store)
    assert got == {"CPU": 3 * 2 + 1 * 1, "GPU": 3 * 0.5, "gpu_memory_gb": 3 * 8, "A100": 3 * 1}
    figures = pool.occupancy(store, None)  # no Ray address: requested only
    assert figures[("CPU", "requested")] == 7 and not any(k == "total" for _, k in figures)
    store.dispose()
