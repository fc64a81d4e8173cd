"""The store callback saves the searcher's state at a bounded share of the driver's time."""
from __future__ import annotations

from hpsearch import tune_callback as tc
from hpsearch.tune_callback import RunContext, StoreCallback


class _Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class _Searcher:
    """A searcher whose state takes ``cost`` seconds of the (fake) clock to take."""

    def __init__(self, clock: _Clock, cost: float):
        self.clock, self.cost, self.n = clock, cost, 0

    def progress(self):
        return (self.n,)

    def get_state(self) -> dict:
        self.clock.t += self.cost
        return {"n": self.n}


class _Writer:
    def __init__(self):
        self.ops = []

    def put(self, op) -> None:
        self.ops.append(op)


def _saves(monkeypatch, cost: float, seconds: float) -> int:
    clock = _Clock()
    monkeypatch.setattr(tc.time, "monotonic", clock)
    cb = StoreCallback(RunContext(url="sqlite://", study_id=1, metric="loss", mode="min",
                                  param_names=("x",), first_number=0, heartbeat_s=5.0),
                       searcher=_Searcher(clock, cost))
    cb._writer = _Writer()
    end = clock.t + seconds
    while clock.t < end:  # the driver loop: a step every 10 ms, the state changes every step
        cb.searcher.n += 1
        cb.save_searcher_state()
        clock.t += 0.01
    return len(cb._writer.ops)


def test_a_cheap_state_is_saved_every_second(monkeypatch):
    assert _saves(monkeypatch, cost=0.001, seconds=10) == 10


def test_a_costly_state_is_saved_less_often(monkeypatch):
    # 50 ms to take (a state of many thousands of observations): taking and writing it
    # every second would be 10% of the driver loop; it is saved at most 5% of the time.
    saves = _saves(monkeypatch, cost=0.05, seconds=30)
    assert 12 <= saves <= 16


def test_clean_metrics_json_safe_and_tune_keys_dropped():
    import math

    import numpy as np

    from hpsearch.tune_callback import clean_metrics

    class Num(float):
        pass

    got = clean_metrics({"loss": 0.5, "nan": math.nan, "inf": -math.inf, "epoch": 3,
                         "flag": True, "name": "adam", "np32": np.float32(0.25),
                         "np64": np.float64(math.inf), "i64": np.int64(7), "sub": Num(2.0),
                         "none": None, "lst": [1, 2], "d": {"a": 1}, "_hps_batch": [[1, {}]],
                         "training_iteration": 4, "trial_id": "x", "time_this_iter_s": 0.1,
                         "timestamp": 123, "done": False})
    assert got == {"loss": 0.5, "nan": None, "inf": None, "epoch": 3.0, "flag": True,
                   "name": "adam", "np32": 0.25, "np64": None, "i64": 7.0, "sub": 2.0,
                   "training_iteration": 4.0}
    assert type(got["epoch"]) is float and type(got["i64"]) is float and got["flag"] is True


def test_the_sink_is_drained_less_often_while_trials_are_quiet():
    # Each empty drain doubles the wait (0.5, 1, 2, 2 s); output brings it back to 0.5 s.
    wait, waits = 0.5, []
    for got in (False, False, False, False, True, False):
        wait = tc.next_drain_wait(wait, got, every=0.5, idle_max=2.0)
        waits.append(wait)
    assert waits == [1.0, 2.0, 2.0, 2.0, 0.5, 1.0]
    # A cap below the period never makes drains more frequent than the period
    assert tc.next_drain_wait(0.5, False, every=0.5, idle_max=0.1) == 0.5
