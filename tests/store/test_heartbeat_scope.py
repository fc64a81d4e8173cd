"""A driver's heartbeat keeps its own trials alive, not other drivers' trials of the study.

Several drivers of one study (docs/scaling.md) each run their own trials; when one of
them dies, its trials must be reaped and run again even though the study's other
drivers still beat. Real store callbacks, writers and databases (SQLite and PostgreSQL);
the Tune trials are the few fields the callback reads.
"""
from __future__ import annotations

import json
import time

from hpsearch import spec as specmod
from hpsearch.store import Store, StudyStatus, TrialStatus
from hpsearch.store.writer import HeartbeatOp, Writer, decode, encode
from hpsearch.tune_callback import RunContext, StoreCallback
from tests.helpers import quad_spec

GRACE_S = 1.0


class _Trial:
    """What StoreCallback reads of a Tune trial."""

    def __init__(self, trial_id: str):
        self.trial_id = trial_id
        self.config = {"x": 0.5}
        self.checkpoint = None
        self.error_file = None
        self.status = "RUNNING"


def _driver(url: str, study_id: int, first_number: int) -> StoreCallback:
    return StoreCallback(RunContext(url=url, study_id=study_id, metric="loss", mode="min",
                                    param_names=("x",), first_number=first_number,
                                    heartbeat_s=0.0))


def test_a_dead_drivers_trials_are_reaped_while_another_driver_of_the_study_beats(db_url):
    store = Store(db_url)
    sid = store.create_study(specmod.load(quad_spec("two-drivers")),
                             status=StudyStatus.RUNNING).id
    a, b = _driver(db_url, sid, 0), _driver(db_url, sid, 100)
    mine = [_Trial("a1"), _Trial("a2"), _Trial("a3")]
    theirs = [_Trial("b1"), _Trial("b2")]
    for t in mine:
        a.on_trial_start(0, mine, t)
    for t in theirs:
        b.on_trial_start(0, theirs, t)
    a.on_trial_complete(0, mine, mine[2])  # ended: no longer beaten for (no value: ERROR)
    a.writer.flush(30)
    b.writer.flush(30)
    b.close()  # driver b dies: it never beats again

    time.sleep(GRACE_S + 0.5)
    a.on_step_end(0, mine)  # driver a lives; a2 may be paused in Tune, it is a's still
    a.writer.flush(30)
    assert store.reap_stale_trials(GRACE_S, sid) == 2
    a.close()

    status = {t.ray_trial_id: t.status for t in store.trials(sid)}
    assert status == {"a1": TrialStatus.RUNNING, "a2": TrialStatus.RUNNING,
                      "a3": TrialStatus.ERROR,
                      "b1": TrialStatus.INTERRUPTED, "b2": TrialStatus.INTERRUPTED}


def test_a_journaled_heartbeat_without_trial_ids_still_beats_the_whole_study(db_url):
    # A journal written before heartbeats named their trials replays as it meant then.
    store = Store(db_url)
    sid = store.create_study(specmod.load(quad_spec("old-journal")),
                             status=StudyStatus.RUNNING).id
    a = _driver(db_url, sid, 0)
    for t in (_Trial("a1"), _Trial("a2")):
        a.on_trial_start(0, [], t)
    a.close()
    time.sleep(GRACE_S + 0.5)
    old = decode(["heartbeat", sid, time.time()])
    assert old == HeartbeatOp(sid, old.t, None)
    line = json.loads(json.dumps(encode(HeartbeatOp(sid, 1.0, ("a1",)))))  # a journal line
    assert list(decode(line).ray_ids) == ["a1"]
    w = Writer(store)
    w.put(old)
    assert w.flush(30)
    w.close()
    assert store.reap_stale_trials(GRACE_S, sid) == 0


def test_a_trial_running_again_after_a_long_pause_is_alive_not_reaped(db_url):
    # A trial paused (ASHA's last wave, PBT) gets no heartbeat; when it runs again its
    # status op says it is alive then, or the reaper would take it for a dead driver's
    # before the next heartbeat.
    from hpsearch.store.writer import StatusOp

    store = Store(db_url)
    sid = store.create_study(specmod.load(quad_spec("resumed")), status=StudyStatus.RUNNING).id
    a = _driver(db_url, sid, 0)
    a.on_trial_start(0, [], _Trial("a1"))
    a.writer.put(StatusOp(sid, "a1", TrialStatus.PAUSED, {}, time.time()))
    a.writer.flush(30)
    time.sleep(GRACE_S + 0.5)
    a.writer.put(StatusOp(sid, "a1", TrialStatus.RUNNING, {"note": "resumed"}, time.time()))
    a.writer.flush(30)
    assert store.reap_stale_trials(GRACE_S, sid) == 0
    assert [t.status for t in store.trials(sid)] == [TrialStatus.RUNNING]
    a.close()
