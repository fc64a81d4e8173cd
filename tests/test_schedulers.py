"""Every scheduler runs a study to the end; early stops are recorded as such."""
from __future__ import annotations

import time

import pytest

import hpsearch
from hpsearch.exceptions import SpecError
from hpsearch.spec import validate
from hpsearch.store import StudyStatus, TrialStatus
from tests.helpers import quad_spec

pytestmark = pytest.mark.usefixtures("ray_session")

EPOCHS = 9


def _run(name: str, scheduler: dict, trials: int = 9):
    spec = quad_spec(name, scheduler=scheduler, fixed={"epochs": EPOCHS},
                     budget={"trials": trials, "max_concurrent": 2})
    study = hpsearch.run(spec, progress=False)
    assert study.status == StudyStatus.COMPLETED, study.error
    assert study.end_reason == f"all {trials} trials of its budget ran"
    return study


def _iterations(study, trial) -> int:
    return max((r["iteration"] for r in study.results(trial.number)), default=0)


def _check_statuses(study) -> tuple[list, list]:
    """Trials that ran to the end are COMPLETED, the others EARLY_STOPPED; none ERROR."""
    stopped, completed = [], []
    for t in study.trials:
        n = _iterations(study, t)
        assert t.status in (TrialStatus.COMPLETED, TrialStatus.EARLY_STOPPED), (t.number, t.status, t.error)
        assert t.value is not None
        if t.status == TrialStatus.COMPLETED:
            assert n == EPOCHS, (t.number, n)
            completed.append(t)
        else:
            assert n < EPOCHS, (t.number, n)
            stopped.append(t)
    return stopped, completed


@pytest.mark.parametrize("scheduler", [
    {"type": "asha", "grace_period": 1, "reduction_factor": 3},
    {"type": "median", "grace_period": 1, "min_samples_required": 2},
], ids=["asha", "median"])
def test_early_stopping_schedulers_record_early_stops(home, scheduler):
    study = _run(f"sched-{scheduler['type']}", scheduler)
    assert len(study.trials) == 9
    stopped, completed = _check_statuses(study)
    assert stopped, "the scheduler stopped no trial"
    assert completed, "no trial ran to the end"


# FIFO is the default scheduler: nearly every study of the suite runs under it to the end
# (test_end_to_end's every trial COMPLETED with all its epochs, none stopped).
@pytest.mark.parametrize("scheduler", [{"type": "hyperband", "reduction_factor": 3}],
                         ids=["hyperband"])
def test_other_schedulers_complete(home, scheduler):
    study = _run(f"sched-{scheduler['type']}", scheduler, trials=5)
    assert len(study.trials) == 5
    stopped, completed = _check_statuses(study)
    assert completed, "no trial ran to the end"


def _pbt_slow_to_stop(name: str, **fixed) -> dict:
    return quad_spec(name, trainable="tests.helpers:quadratic_ckpt",
                     scheduler={"type": "pbt", "perturbation_interval": 2},
                     fixed={"epochs": 4, "sleep": 0.05, **fixed},
                     budget={"trials": 3, "max_concurrent": 3})


def test_pbt_exploits_checkpoints_and_waits_for_a_trial_slow_to_stop(home):
    """PBT restores trials from better ones' checkpoints and every trial reaches its end.

    To clone a better trial into a paused one, Tune reuses the paused trial's process once
    its function has ended, waiting TUNE_FUNCTION_THREAD_TIMEOUT_S (Ray's default: 2 s)
    before it gives up and ends the trial in error. A trial taking 2.5 s to stop (a busy
    machine, a trial saving on its way out) still completes: hpsearch waits longer."""
    study = hpsearch.run(_pbt_slow_to_stop("sched-pbt-slow", stop_s=2.5), progress=False)
    assert study.status == StudyStatus.COMPLETED, study.error
    resumed = [r["resumed_from"] for t in study.trials for r in study.results(t.number)]
    assert any(r > 0 for r in resumed), "PBT never restored a trial from a checkpoint"
    assert [t.status for t in study.trials] == [TrialStatus.COMPLETED] * 3, \
        [(t.number, t.status, t.error) for t in study.trials]
    for t in study.trials:
        assert max(r["iteration"] for r in study.results(t.number)) == 4
        assert -5.0 <= t.params["x"] <= 5.0


def test_a_trial_tune_gives_up_on_is_recorded_not_left_running(home):
    """When Tune gives up on a trial without telling callbacks (a reused process whose last
    trial would not stop in time), the trial's row still gets its end: ERROR, with Tune's
    reason, never RUNNING after its study has ended."""
    study = hpsearch.run(_pbt_slow_to_stop("sched-pbt-gave-up", stop_s=1, reset_wait_s=0),
                         progress=False)
    statuses = [t.status for t in study.trials]
    assert TrialStatus.RUNNING not in statuses, [(t.number, t.status) for t in study.trials]
    failed = [t for t in study.trials if t.status == TrialStatus.ERROR]
    assert failed, "Tune never gave up on a trial: the test did not set up what it tests"
    assert all("reset_config" in (t.error or "") for t in failed), [t.error for t in failed]


@pytest.mark.parametrize("scheduler, field", [
    ({"type": "nope"}, "scheduler.type"),
    ({"type": "asha", "grace_period": 0}, "scheduler.grace_period"),
    ({"type": "asha", "reduction_factor": "3"}, "scheduler.reduction_factor"),
    ({"type": "median", "grace": 1}, "scheduler.grace"),
    ({"type": "pbt", "quantile_fraction": 0.9}, "scheduler.quantile_fraction"),
    ({"type": "hyperband", "max_t": True}, "scheduler.max_t"),
])
def test_bad_scheduler_options_name_the_field(scheduler, field):
    with pytest.raises(SpecError) as e:
        validate(quad_spec("bad-sched", scheduler=scheduler))
    assert field in str(e.value)


def test_a_time_limit_ends_the_study_and_records_the_trials_it_cut(home):
    """``budget.time_limit_s`` stops the trials still running when it passes: each gets its
    end in SQL (never RUNNING in an ended study), with the limit as the reason: one that
    reported keeps its last value (EARLY_STOPPED, it counts), one that had not reported is
    INTERRUPTED (a resume runs it again)."""
    spec = quad_spec("time-limit", fixed={"epochs": 1000, "sleep": 0.1},
                     budget={"trials": 20, "max_concurrent": 2, "time_limit_s": 15})
    study = hpsearch.run(spec, progress=False)
    assert study.status == StudyStatus.COMPLETED, study.error
    trials = study.trials
    live = [(t.number, t.status) for t in trials if t.status in TrialStatus.LIVE]
    assert not live, live
    cut = [t for t in trials if t.status in (TrialStatus.EARLY_STOPPED, TrialStatus.INTERRUPTED)]
    assert cut, [(t.number, t.status) for t in trials]  # 1000 epochs of 0.1 s outlast 15 s
    for t in cut:
        results = study.results(t.number)
        if t.status == TrialStatus.EARLY_STOPPED:
            assert results and t.value == results[-1]["loss"], (t.number, t.value)
            assert len(results) < 1000
        else:
            assert not results, (t.number, len(results))
        assert t.finished_at is not None
        notes = [e.message or "" for e in study.store.trial_events(t.id)]
        assert any("time limit" in n for n in notes), notes
    # The study says why it ended (the CLI, the API and its page show this).
    done = sum(t.status in TrialStatus.DONE for t in trials)
    assert study.end_reason == (f"its time limit (budget.time_limit_s = 15 s) passed after "
                                f"{done} of 20 trials"), study.end_reason


def _relay(name: str, folder, fill: bool, after: int, lead_sleep: float, sleep: float,
           xs=(0, 1), **fixed):
    """Trials under ASHA (rungs 1, 3, 9), two at once, one per x in ``xs`` (in that order):
    the lead (x=0) reaches rung 1 first and goes on; the other (x=1), worse, reaches rung 1
    after the lead's epoch ``after``, and ASHA stops it there. With two trials, none is left
    to start then. Returns the trials by x, and when each reported its last epoch."""
    spec = quad_spec(name, trainable="tests.helpers:relay", space={"x": {"grid": list(xs)}},
                     searcher={"type": "grid"},
                     scheduler={"type": "asha", "grace_period": 1, "reduction_factor": 3,
                                "fill_idle": fill},
                     fixed={"epochs": EPOCHS, "dir": str(folder), "after": after,
                            "lead_sleep": lead_sleep, "sleep": sleep, **fixed},
                     budget={"trials": len(xs), "max_concurrent": 2})
    study = hpsearch.run(spec, progress=False)
    assert study.status == StudyStatus.COMPLETED, study.error
    trials = sorted(study.trials, key=lambda t: t.params["x"])
    ends = [max(r["t_end"] for r in study.results(t.number)) for t in trials]
    return (study, *trials, ends)


@pytest.mark.parametrize("fill", [True, False], ids=["fill_idle", "no_fill"])
def test_asha_stop_that_would_idle_a_slot_trains_on_until_the_study_ends(home, tmp_path, fill):
    # The lead passed rung 3: it surely trains 6 more epochs of 0.4 s. Stopping the other at
    # rung 1 would leave its slot idle all that time (no trial is left to start).
    study, lead, other, ends = _relay(f"fill-{fill}", tmp_path, fill, after=3, lead_sleep=0.4,
                                      sleep=0.05)
    assert lead.status == TrialStatus.COMPLETED and _iterations(study, lead) == EPOCHS
    if not fill:  # Ray's ASHA as it is
        assert other.status == TrialStatus.EARLY_STOPPED
        assert _iterations(study, other) == 1
        return
    assert _iterations(study, other) == EPOCHS, "the trial ASHA stopped did not train on"
    assert other.status == TrialStatus.COMPLETED
    assert ends[1] <= ends[0], "the trial trained on past the study's last trial"
    # Its trial page says why it ran past ASHA's stop (the events table's last message).
    last = _events(study, other)[-1]
    assert last.message == (f"ASHA stopped it at epoch 1; its slot had nothing else to run, "
                            f"so it trained on to epoch {EPOCHS} (scheduler.fill_idle)")


def _events(study, trial) -> list:
    return study.store.trial_events(study.store.get_trial(study.id, trial.number).id)


def test_a_trial_asha_stops_in_the_last_wave_resumes_into_a_slot_left_idle(home, tmp_path):
    # Three trials, two at once. The other (x=1) reaches rung 1 after the lead passed rung 3,
    # with one trial left to start (the last wave): ASHA stops it, and it is paused with its
    # checkpoint. The third (x=2) takes its slot, trains on once nothing is left to start,
    # and reaches its last epoch while the lead has seconds to go: its slot would sit idle,
    # so the paused trial resumes there from its checkpoint and trains on to the end.
    from hpsearch.store import queries

    study, lead, other, third, ends = _relay("resume", tmp_path, True, after=3, lead_sleep=0.6,
                                             sleep=0.1, xs=(0, 1, 2), checkpoint=True)
    assert lead.status == TrialStatus.COMPLETED and _iterations(study, lead) == EPOCHS
    assert third.status == TrialStatus.COMPLETED and _iterations(study, third) == EPOCHS
    # Resumed from its epoch-1 checkpoint, not from scratch: each epoch reported once.
    its = [r["iteration"] for r in study.results(other.number)]
    assert its == list(range(1, EPOCHS + 1)), its
    assert other.status == TrialStatus.COMPLETED
    assert ends[1] <= ends[0], "the resumed trial trained on past the study's last trial"
    events = [(e.status, e.message) for e in _events(study, other)]
    assert (TrialStatus.PAUSED, "ASHA stopped it at epoch 1; paused, not ended, so it can "
            "resume if a slot has nothing else to run at the budget's end "
            "(scheduler.fill_idle)") in events, events
    assert (TrialStatus.RUNNING, "resumed from its epoch 1 checkpoint: a slot had nothing "
            "else to run (scheduler.fill_idle)") in events, events
    assert events[-1] == (TrialStatus.COMPLETED, "ASHA stopped it at epoch 1 and it was paused; "
                          "a slot had nothing else to run, so it resumed from its checkpoint "
                          f"and trained on to epoch {EPOCHS} (scheduler.fill_idle)"), events
    # The timeline draws the paused trial as two runs, the pause between them idle.
    spans = [s for s in queries.trial_spans(study.store, study.id) if s.number == other.number]
    assert len(spans) == 2, spans
    assert spans[0].finished_at <= spans[1].started_at, spans


def test_a_slot_left_idle_before_the_horizon_grows_is_held_for_a_paused_trial(home, tmp_path):
    # The lead (0.8 s an epoch) is short of rung 3. The other (x=1, 0.1 s an epoch) is
    # paused at rung 1 in the last wave; the third (x=2, 1 s an epoch) takes its slot and
    # is paused at rung 1 too: its next epoch, like the other's restart, would end after
    # the lead's rung 3, all that was sure to run then. Its slot would go idle. Its
    # process is held instead, and once the lead passes rung 3 (6 more epochs surely run),
    # the other resumes there at once, and trains on to the end.
    study, lead, other, third, ends = _relay("resume-held", tmp_path, True, after=1,
                                             lead_sleep=0.8, sleep=0.1, xs=(0, 1, 2),
                                             sleeps=[0.8, 0.1, 1.0], checkpoint=True)
    assert lead.status == TrialStatus.COMPLETED and _iterations(study, lead) == EPOCHS
    runs = study.results(other.number)
    assert [r["iteration"] for r in runs] == list(range(1, EPOCHS + 1)), runs
    assert other.status == TrialStatus.COMPLETED
    assert ends[1] <= ends[0], "the resumed trial trained on past the study's last trial"
    # It resumed in the third's process, kept for it (a new one would take seconds) ...
    assert runs[1]["process"] == study.results(third.number)[0]["process"]
    # ... as the lead passed rung 3, not at the next trial's end: before the lead's epoch 4.
    lead_epochs = {r["iteration"]: r["t_end"] for r in study.results(lead.number)}
    assert lead_epochs[3] < runs[1]["t_end"] < lead_epochs[4], (lead_epochs, runs)
    third_events = [e.status for e in _events(study, third)]
    assert TrialStatus.PAUSED in third_events, third_events


def test_a_held_process_is_given_back_when_other_work_waits_for_the_cluster(home, tmp_path):
    # As above, the third's process is held for the paused other: at the third's pause
    # (about 4.7 s in), nothing fits before the lead's rung 3 (6 s). Then other work asks
    # the cluster for a CPU (a placement group, as another study's trials would). At the
    # lead's next result the hold is given back: the placement group gets the CPU then,
    # not when the study ends, and the other is not resumed (it ends where ASHA stopped it).
    import threading

    from ray.util.placement_group import placement_group, remove_placement_group

    from hpsearch.store import Store

    claim: dict = {}

    def claim_a_cpu_once_the_third_is_paused():
        store, deadline = Store(None), time.time() + 60
        while time.time() < deadline and "pg" not in claim:
            try:
                study = store.get_study("hold-give-back")
                third = next(t for t in store.trials(study.id) if t.params.get("x") == 2)
            except Exception:  # noqa: BLE001 - not created yet
                time.sleep(0.05)
                continue
            if any(e.status == TrialStatus.PAUSED for e in store.trial_events(third.id)):
                claim["pg"] = placement_group([{"CPU": 1}])
                claim["asked"] = time.time()
                if claim["pg"].wait(timeout_seconds=60):
                    claim["ready"] = time.time()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=claim_a_cpu_once_the_third_is_paused, daemon=True)
    thread.start()
    try:
        study, lead, other, third, ends = _relay("hold-give-back", tmp_path, True, after=1,
                                                 lead_sleep=2.0, sleep=0.5, xs=(0, 1, 2),
                                                 sleeps=[2.0, 0.5, 2.0], checkpoint=True,
                                                 epochs=5)  # max_t 5: rungs 1 and 3
        thread.join(timeout=60)
    finally:
        if "pg" in claim:
            remove_placement_group(claim["pg"])
    assert "asked" in claim, "the third trial was never paused"
    third_events = [e.status for e in _events(study, third)]
    assert TrialStatus.PAUSED in third_events, third_events
    lead_epochs = {r["iteration"]: r["t_end"] for r in study.results(lead.number)}
    assert claim["asked"] < lead_epochs[3], (claim, lead_epochs)
    # The held process went back at the lead's rung-3 result, before its epoch 4 ended ...
    assert "ready" in claim and claim["ready"] < lead_epochs[4], (claim, lead_epochs)
    # ... and the paused trial did not take it.
    assert other.status == TrialStatus.EARLY_STOPPED and _iterations(study, other) == 1


def test_a_paused_trial_no_idle_slot_takes_ends_where_asha_stopped_it(home, tmp_path):
    # The other (x=1, 1 s an epoch) is paused at rung 1 in the last wave. The third (as
    # slow) and the lead end less than an epoch of it apart: its next epoch would outlast
    # the study each time. It never resumes, and ends EARLY_STOPPED with its rung-1 value
    # once nothing runs.
    study, lead, other, third, ends = _relay("resume-none", tmp_path, True, after=1,
                                             lead_sleep=0.3, sleep=1.0, xs=(0, 1, 2),
                                             checkpoint=True)
    assert other.status == TrialStatus.EARLY_STOPPED
    assert _iterations(study, other) == 1 and other.value == 1.0
    events = [(e.status, e.message) for e in _events(study, other)]
    assert events[-1] == (TrialStatus.EARLY_STOPPED, "ASHA stopped it at epoch 1; it was "
                          "paused in case a slot had nothing else to run at the budget's end, "
                          "and none did in time (scheduler.fill_idle)"), events
    assert TrialStatus.PAUSED in [s for s, _ in events], events


def test_asha_stop_is_kept_when_training_on_would_outlast_the_study(home, tmp_path):
    # The lead has 3 epochs of 0.05 s left when the other, at 1 s an epoch, reaches rung 1.
    study, lead, other, ends = _relay("fill-late", tmp_path, True, after=6, lead_sleep=0.05,
                                      sleep=1.0)
    assert other.status == TrialStatus.EARLY_STOPPED
    assert _iterations(study, other) == 1


def test_asha_stop_is_kept_while_other_work_waits_for_the_cluster(home, tmp_path):
    # A placement group no node can hold (a resource none has) waits in the cluster, as
    # another study's trials would: a freed slot is theirs, so ASHA's stop stands.
    from ray.util.placement_group import placement_group, remove_placement_group

    waiting = placement_group([{"CPU": 1, "hpsearch_test_absent": 1}])
    try:
        study, lead, other, ends = _relay("fill-others", tmp_path, True, after=3,
                                          lead_sleep=0.4, sleep=0.05)
    finally:
        remove_placement_group(waiting)
    assert other.status == TrialStatus.EARLY_STOPPED
    assert _iterations(study, other) == 1


def test_a_trial_that_reaches_ashas_own_max_t_is_completed_not_stopped_early(home):
    # max_t 3 of 9 epochs: ASHA ends every trial at epoch 3 at the latest. One that got
    # there ran its whole budget (COMPLETED); only one stopped before it stopped early.
    spec = quad_spec("asha-max-t", fixed={"epochs": EPOCHS},
                     scheduler={"type": "asha", "grace_period": 1, "reduction_factor": 3,
                                "max_t": 3},
                     budget={"trials": 6, "max_concurrent": 2})
    study = hpsearch.run(spec, progress=False)
    assert study.status == StudyStatus.COMPLETED, study.error
    seen = set()
    for t in study.trials:
        n = _iterations(study, t)
        assert n <= 3, (t.number, n)
        assert t.status == (TrialStatus.COMPLETED if n == 3 else TrialStatus.EARLY_STOPPED), \
            (t.number, n, t.status)
        seen.add(t.status)
    assert TrialStatus.COMPLETED in seen
