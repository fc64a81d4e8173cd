"""``hpsearch.report``: a trainable's results, sent to Tune together when none is needed alone.

Every ``ray.tune.report`` in a function trainable waits until the driver has fetched
that one result (a round trip: Ray Tune alone manages about 1,000 results/s here). A
trainable that reports every batch, not every epoch, spends its time waiting.

``hpsearch.report`` sends each result to Tune at once when something decides on
results one by one: an early-stopping scheduler (ASHA, Hyperband, median, PBT) or
retries (``budget.max_failures``: a restored trial continues Tune's iteration count).
Otherwise, a result reported less than ``COALESCE_S`` after the previous Tune report
waits in a buffer and goes with the next one that is due (or when the trial ends)
as one Tune result; the store callback writes each buffered result as its own row,
numbered by the reporter. A slow trainable (an epoch per report) therefore sends every
result at once; a fast one sends at most ``1 / COALESCE_S`` Tune results a second. A
crash loses at most the buffer, as it would lose results still in flight.

    import hpsearch

    def train(config):
        for step in range(10_000):
            loss = ...
            hpsearch.report({"loss": loss})

Outside a study (no Ray Tune session) ``report`` falls back to ``ray.tune.report``.
"""
from __future__ import annotations

import time
from typing import Any

COALESCE_S = 0.05  # the default window (HPSEARCH_REPORT_WINDOW_S; orchestration.coalesce_window)
BATCH_KEY = "_hps_batch"  # the buffered [iteration, metrics] pairs; leading "_": not a metric


class Reporter:
    """One trial's reporter (the study's driver decides ``window`` per trial)."""

    def __init__(self, window: float = 0.0):
        self.window = window
        self.iteration = 0
        self.buffer: list[list] = []
        self._sent_at = float("-inf")

    def report(self, metrics: dict[str, Any], checkpoint=None) -> None:
        from ray import tune

        if self.window <= 0:
            tune.report(metrics, checkpoint=checkpoint)
            return
        self.iteration += 1
        self.buffer.append([self.iteration, dict(metrics)])
        if checkpoint is not None or time.monotonic() - self._sent_at >= self.window:
            self.flush(checkpoint)

    def flush(self, checkpoint=None) -> None:
        """Send what the buffer holds as one Tune result (the last result's metrics on top)."""
        from ray import tune

        if not self.buffer:
            return
        batch, self.buffer = self.buffer, []
        tune.report({**batch[-1][1], BATCH_KEY: batch}, checkpoint=checkpoint)
        self._sent_at = time.monotonic()


_current: Reporter | None = None  # set by the trial wrapper (orchestration.make_trial_fn)


def start_trial(window: float) -> Reporter:
    global _current
    _current = Reporter(window)
    return _current


def end_trial() -> None:
    """Send what is left (the trial's function returned or raised) and forget the reporter."""
    global _current
    reporter, _current = _current, None
    if reporter is not None:
        reporter.flush()


def report(metrics: dict[str, Any], *, checkpoint=None) -> None:
    """Report a trial's metrics (see the module docstring); use instead of ``tune.report``."""
    if _current is None:
        from ray import tune

        tune.report(metrics, checkpoint=checkpoint)
        return
    _current.report(metrics, checkpoint)
