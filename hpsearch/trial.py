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
import sys
import time
from typing import Callable

from hpsearch.isolation import SECRET_ENV  # the variables a trial must never see


def trial_seed(seed: int, params: dict) -> int:
    """Same spec seed + same params -> same trial seed (reproducible metrics)."""
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    return int.from_bytes(hashlib.sha256(str(seed).encode() + blob).digest()[:4], "little")


REUSE_WAIT_S = 60  # how long Tune waits for a stopped trial's function before reusing its process


def make_trial_fn(fn: Callable[[dict], None], fixed: dict, dataset: str | None,
                  seed: int, coalesce_s: float = 0.0, sink=None,
                  limits: dict | None = None, on_oom: dict | None = None,
                  gpu_memory_gb: float = 0.0, scaling=None) -> Callable[[dict], None]:
    """The function Tune runs: searched params + fixed values + reserved keys.

    ``coalesce_s``: how ``hpsearch.report`` batches this trial's results (see
    hpsearch/reporting.py; 0 sends each to Tune at once). ``sink``: the study's
    sink actor (hpsearch/sink.py): the trial's output and media go there, bounded
    by ``limits`` (``log_chars``, ``media_items``, ``media_bytes``). ``on_oom``:
    ``{halve, retries, default}`` (hpsearch/oom.py): torch's out-of-memory error runs the
    trainable again with that hyperparameter halved; None: the error fails the trial.
    ``gpu_memory_gb``: the trial's declared GPU memory; with a GPU, each visible device's
    allocator is capped to it (:func:`cap_gpu_memory`). ``scaling``: a
    :class:`hpsearch.ddp.Scaling` with more than one worker trains the trial data-parallel
    on Ray Train workers (hpsearch/ddp.py); None: in this process.
    """

    def hpsearch_trial(config: dict) -> None:
        from hpsearch import ddp, media_client, reporting

        for name in SECRET_ENV:
            os.environ.pop(name, None)
        # Tune reuses this process for its next trial (or for this one, when PBT clones
        # another into it) once this function has ended, and gives up after
        # TUNE_FUNCTION_THREAD_TIMEOUT_S (Ray's default: 2 s), ending the trial in error. A
        # trial on a busy machine, or one saving on its way out, takes longer to stop.
        os.environ.setdefault("TUNE_FUNCTION_THREAD_TIMEOUT_S", str(REUSE_WAIT_S))
        # What Tune's runtime env for its actors would have set (Lightning forks no workers):
        # the trial's actor runs without one, on a warm worker (hpsearch/warm_workers.py).
        os.environ.setdefault("PL_DISABLE_FORK", "1")
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
        announce_placement(sink)
        ddp.start_trial(scaling)
        if gpu_memory_gb and (scaling is None or scaling.workers <= 1):
            cap_gpu_memory(gpu_memory_gb)
        try:
            attempt = 0
            while True:
                try:
                    fn(full)
                    break
                except Exception as exc:  # noqa: BLE001 - only out-of-memory is retried
                    retry = oom_retry(on_oom, full, attempt, exc)
                    if retry is None:
                        raise
                attempt += 1
                _release_memory()
                record_retry(sink, retry)
                full[retry["key"]] = retry["to"]
        finally:
            reporting.end_trial()  # what the reporter still holds goes to Tune
            ddp.end_trial()
            media_client.end_trial()
            if capture is not None:
                capture.stop()

    return hpsearch_trial


_where: dict | None = None  # this process's node, host and IP: asked once per worker


def placement() -> dict:
    """Where this process runs: its Ray node's id, the host's name and the node's IP."""
    global _where
    if _where is None:
        import socket

        import ray

        _where = {"node_id": ray.get_runtime_context().get_node_id(),
                  "node_host": socket.gethostname(), "node_ip": ray.util.get_node_ip_address()}
    return {**_where, "t": time.time()}


_announced: set[tuple[str, str, str]] = set()  # (sink, study key, actor) told where it runs


PLACEMENT_WAIT_S = 10.0  # at most this long for the sink to hold where a process runs


def announce_placement(sink) -> None:
    """Tell the study's sink where this trial runs (the driver drains it).

    Said once per process and study, keyed by this process's actor: Tune runs trial after
    trial in one reused actor, the driver knows which actor runs each trial
    (:class:`hpsearch.tune_callback.StoreCallback`), and an actor call per trial cost about
    as much CPU again in the sink as the no-op trial itself. Outside an actor, by trial.
    Waited for (one call to the sink per process and study): a process's first call to the
    sink actor is sent only once Ray has found the actor, and a trial that ends at once may
    have its process ended before that; then the study recorded no node for it, and the
    next study no warm worker (hpsearch/warm_workers.py, replenish)."""
    if sink is None:
        return
    import ray
    from ray import tune

    try:
        actor = ray.get_runtime_context().get_actor_id()
        said = (sink.name, sink.key, actor or "")
        if actor is not None and said in _announced:
            return
        ref = sink.placement.remote(actor or tune.get_context().get_trial_id(), placement())
        ray.wait([ref], timeout=PLACEMENT_WAIT_S)
        if actor is not None:
            _announced.add(said)
    except Exception as exc:  # noqa: BLE001 - bookkeeping must never fail a trial
        print(f"hpsearch: could not record where this trial runs: {exc}", file=sys.stderr)


def is_out_of_memory(exc: BaseException) -> bool:
    """torch's out-of-memory error (``torch.OutOfMemoryError``, which is also
    ``torch.cuda.OutOfMemoryError``), known by its class: torch is not imported here; or an
    error that says it stands for one (``out_of_memory``: an isolated trial's process
    raised it, hpsearch/trial_isolated.py)."""
    return getattr(exc, "out_of_memory", False) is True or any(
        c.__name__ == "OutOfMemoryError" and c.__module__.split(".")[0] == "torch"
        for c in type(exc).__mro__)


def record_retry(sink, retry: dict) -> None:
    """Say so in the trial's log, and record the retry in the study's sink (waited for: the
    driver reads a trial's retries when it ends, after this)."""
    print(retry["message"], file=sys.stderr, flush=True)  # into the trial's log
    if sink is not None:
        import ray
        from ray import tune

        ray.get(sink.oom_retry.remote(tune.get_context().get_trial_id(), retry))


def oom_retry(on_oom: dict | None, config: dict, attempt: int, exc: BaseException) -> dict | None:
    """The next retry for ``exc`` under the policy, or None when the error stands
    (not out of memory, no policy, retries spent, or nothing left to halve)."""
    if on_oom is None or attempt >= on_oom["retries"] or not is_out_of_memory(exc):
        return None
    key = on_oom["halve"]
    old = config.get(key, on_oom.get("default"))
    if isinstance(old, bool) or not isinstance(old, int) or old < 2:
        return None
    new = old // 2
    return {"attempt": attempt + 1, "retries": on_oom["retries"], "key": key, "from": old,
            "to": new, "t": time.time(),
            "message": f"out of memory with {key}={old}; run again with {key}={new} "
                       f"(retry {attempt + 1} of {on_oom['retries']})"}


def _release_memory() -> None:
    """Give the failed attempt's cached GPU blocks back before the retry (when torch has CUDA)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def cap_gpu_memory(gb: float) -> list[float]:
    """Cap this process's CUDA allocator on each visible device to ``gb`` GiB (its declared
    share), so one trial cannot starve its neighbours on a shared GPU. Returns the
    fractions set (empty without a GPU; torch is imported only when a cap is declared)."""
    import torch

    fractions = []
    if torch.cuda.is_available():
        for device in range(torch.cuda.device_count()):
            total = torch.cuda.get_device_properties(device).total_memory
            fraction = min(1.0, gb * 2**30 / total)
            torch.cuda.set_per_process_memory_fraction(fraction, device)
            fractions.append(fraction)
    return fractions
