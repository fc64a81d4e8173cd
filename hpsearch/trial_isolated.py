"""The Ray worker's side of an isolated trial (served mode with ``HPSEARCH_TRIAL_USER``).

The wrapper Tune runs never imports the trainable: it starts ``hpsearch.trial_child`` as
the trial user (no supplementary groups, a minimal environment, umask 077), sends it the
trainable's name, its config and the checkpoint to resume from, and reports to Tune what
comes back over the pipe. Standard library only at import (like hpsearch/trial.py).
"""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Callable

from hpsearch.isolation import TrialUser, trial_environ
from hpsearch.trial import announce_placement, oom_retry, record_retry, trial_seed


class TrialProcessError(RuntimeError):
    """The trial's process failed; the message is its traceback. ``out_of_memory``: what it
    raised was torch's out-of-memory error (``on_oom`` retries it, hpsearch/trial.py)."""

    def __init__(self, message: str, out_of_memory: bool = False):
        super().__init__(message)
        self.out_of_memory = out_of_memory


def make_isolated_trial_fn(trainable: str, fixed: dict, dataset: str | None, seed: int,
                           coalesce_s: float, user: TrialUser, sink=None,
                           limits: dict | None = None, on_oom: dict | None = None,
                           gpu_memory_gb: float = 0.0) -> Callable[[dict], None]:
    """Like :func:`hpsearch.trial.make_trial_fn`, with the training in a process of ``user``.
    ``on_oom`` and ``gpu_memory_gb`` as there: the trial's process caps its own allocator, and
    when it dies of torch's out-of-memory error a new process runs with the value halved.

    The trial's output is relayed into this worker's stdout and so into the study's log
    capture (``sink``); its media items are counted against ``limits`` here, in the worker
    (the trial's process could lie about its own budget), then sent to the sink.
    """

    def hpsearch_trial(config: dict) -> None:
        os.environ.setdefault("PL_DISABLE_FORK", "1")  # as Tune's actor runtime env did
        full = {**fixed, **config, "dataset": dataset, "seed": trial_seed(seed, config)}
        capture = media = None
        if sink is not None:
            from ray import tune

            from hpsearch import media_client
            from hpsearch.capture import LogCapture

            ray_id = tune.get_context().get_trial_id()
            lim = limits or {}
            capture = LogCapture(lambda offset, text: sink.log.remote(ray_id, offset, text),
                                 lim.get("log_chars", 200_000)).start()
            media = media_client._Budget(lambda item: sink.media.remote(ray_id, item),
                                         lim.get("media_items", 0), lim.get("media_bytes", 0),
                                         lim.get("media_every", 5))
        announce_placement(sink)
        try:
            attempt = 0
            while True:
                try:
                    run_isolated(trainable, full, coalesce_s, user, media=media,
                                 media_every=(limits or {}).get("media_every", 5),
                                 gpu_memory_gb=gpu_memory_gb)
                    break
                except TrialProcessError as exc:
                    retry = oom_retry(on_oom, full, attempt, exc)
                    if retry is None:
                        raise
                attempt += 1
                record_retry(sink, retry)
                full[retry["key"]] = retry["to"]
        finally:
            if capture is not None:
                capture.stop()

    return hpsearch_trial


def _read_exact(f, n: int) -> bytes:
    data = f.read(n)
    if data is None or len(data) < n:
        raise EOFError
    return data


def _relay(stream) -> None:
    """The trial's output, line by line, into this process's sys.stdout (and its capture)."""
    for line in iter(stream.readline, b""):
        sys.stdout.write(line.decode("utf-8", "replace"))
    sys.stdout.flush()


def run_isolated(trainable: str, config: dict, coalesce_s: float, user: TrialUser, *,
                 media=None, media_every: int = 5, gpu_memory_gb: float = 0.0) -> None:
    import threading

    from ray import tune

    context = tune.get_context()
    checkpoint = tune.get_checkpoint()
    header = {"trainable": trainable, "config": config, "coalesce_s": coalesce_s,
              "resources": dict(context.get_trial_resources().required_resources),
              "trial_id": context.get_trial_id(), "trial_name": context.get_trial_name(),
              "checkpoint": checkpoint is not None, "media": media is not None,
              "media_every": media_every, "gpu_memory_gb": gpu_memory_gb}
    import pwd

    entry = pwd.getpwnam(user.name)  # this node's account of that name (a cluster's nodes)
    if entry.pw_uid == 0:
        raise TrialProcessError(f"the trial user {user.name!r} is root on this node")
    r, w = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hpsearch.trial_child", str(w)],
            stdin=subprocess.PIPE, pass_fds=(w,), cwd="/", env=trial_environ(),
            user=entry.pw_uid, group=entry.pw_gid, extra_groups=[], umask=0o077, close_fds=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    finally:
        os.close(w)
    relay = threading.Thread(target=_relay, args=(proc.stdout,), name="hpsearch-trial-output",
                             daemon=True)
    relay.start()
    reader = os.fdopen(r, "rb")
    workdir, error, done, oom = None, None, False, False
    try:
        try:
            proc.stdin.write(json.dumps(header).encode() + b"\n")
            if checkpoint is not None:
                with checkpoint.as_directory() as directory:
                    from hpsearch.trial_child import pack

                    proc.stdin.write(pack(directory))
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the child died at start: its error comes below
        while True:
            try:
                size = int.from_bytes(_read_exact(reader, 8), "big")
                message = json.loads(_read_exact(reader, size))
                payload = _read_exact(reader, message["payload"]) if message["payload"] else b""
            except EOFError:
                break
            kind = message["type"]
            if kind == "hello":
                workdir = message["workdir"]
            elif kind == "report":
                _report(tune, message["metrics"], payload)
            elif kind == "media" and media is not None:
                from hpsearch.trial_child import from_wire

                from hpsearch import media_client

                item = from_wire(message["item"])
                media.take(item, media_client._payload_size(item))
            elif kind == "error":
                error, oom = message["error"], message.get("out_of_memory") is True
            elif kind == "done":
                done = True
        rc = proc.wait()
        relay.join(10)
    finally:
        reader.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if error is not None:
        raise TrialProcessError(error, out_of_memory=oom)
    if rc != 0 or not done:
        raise TrialProcessError(f"the trial's process (user {user.name!r}) exited with code {rc}"
                                + ("" if workdir else " before it started"))


def _report(tune, metrics: dict, payload: bytes) -> None:
    if not payload:
        tune.report(metrics)
        return
    from hpsearch.trial_child import unpack

    local = tempfile.mkdtemp(prefix="hpsearch-ckpt-")
    try:
        unpack(io.BytesIO(payload), local)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(local))
    finally:  # tune.report copied the folder into the run's storage before returning
        shutil.rmtree(local, ignore_errors=True)
