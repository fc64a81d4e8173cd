"""The function Ray Tune runs for a trial: the trainable, wrapped.

This module is what a Ray worker imports to run a trial (cloudpickle ships the
wrapper by value and its module-level helpers by reference), so it imports only
the standard library: a fresh worker starts its first trial without loading the
store, the spec model or the searchers (about 0.2 s here).
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Callable

from hpsearch.isolation import SECRET_ENV  # the variables a trial must never see


def trial_seed(seed: int, params: dict) -> int:
    """Same spec seed + same params -> same trial seed (reproducible metrics)."""
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    return int.from_bytes(hashlib.sha256(str(seed).encode() + blob).digest()[:4], "little")


def make_trial_fn(fn: Callable[[dict], None], fixed: dict, dataset: str | None,
                  seed: int, coalesce_s: float = 0.0, sink=None,
                  limits: dict | None = None) -> Callable[[dict], None]:
    """The function Tune runs: searched params + fixed values + reserved keys.

    ``coalesce_s``: how ``hpsearch.report`` batches this trial's results (see
    hpsearch/reporting.py; 0 sends each to Tune at once). ``sink``: the study's
    sink actor (hpsearch/sink.py): the trial's output and media go there, bounded
    by ``limits`` (``log_chars``, ``media_items``, ``media_bytes``).
    """

    def hpsearch_trial(config: dict) -> None:
        from hpsearch import media_client, reporting

        for name in SECRET_ENV:
            os.environ.pop(name, None)
        full = {**fixed, **config, "dataset": dataset, "seed": trial_seed(seed, config)}
        capture = None
        if sink is not None:
            from ray import tune

            from hpsearch.capture import LogCapture

            ray_id = tune.get_context().get_trial_id()
            lim = limits or {}
            capture = LogCapture(lambda offset, text: sink.log.remote(ray_id, offset, text),
                                 lim.get("log_chars", 200_000)).start()
            media_client.start_trial(lambda item: sink.media.remote(ray_id, item),
                                     lim.get("media_items", 0), lim.get("media_bytes", 0),
                                     lim.get("media_every", 5))
        reporting.start_trial(coalesce_s)
        try:
            fn(full)
        finally:
            reporting.end_trial()  # what the reporter still holds goes to Tune
            media_client.end_trial()
            if capture is not None:
                capture.stop()

    return hpsearch_trial
