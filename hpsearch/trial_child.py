"""A trial's training, in its own process as the trial user (started by hpsearch/trial.py).

    python -m hpsearch.trial_child FD        # FD: the pipe its results go back on

Standard input carries one JSON line (trainable, config, resources, coalescing window,
whether a checkpoint follows), then the checkpoint to resume from as a tar stream. The
trainable calls ``ray.tune.report`` / ``hpsearch.report`` / ``ray.tune.get_checkpoint`` /
``ray.tune.get_context`` as it would in a Ray worker; here those are stand-ins that send
each result (with its checkpoint folder, as tar) over the pipe, where the Ray worker
reports it to Tune. Frames: 8-byte big-endian length + JSON, then any checkpoint bytes.
This process has no Ray session, no Ray token and none of the service's secrets.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import traceback
from typing import Any


def send(out, message: dict, payload: bytes = b"") -> None:
    body = json.dumps({**message, "payload": len(payload)}, default=_plain).encode()
    out.write(len(body).to_bytes(8, "big") + body + payload)
    out.flush()


def _plain(value: Any):
    """numpy / torch scalars as Python numbers (metrics are JSON on the pipe)."""
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    return str(value)


def to_wire(item: dict) -> dict:
    """A media item for the JSON pipe (bytes as base64)."""
    import base64

    return {k: {"b64": base64.b64encode(v).decode()} if isinstance(v, bytes) else v
            for k, v in item.items()}


def from_wire(item: dict) -> dict:
    import base64

    return {k: base64.b64decode(v["b64"]) if isinstance(v, dict) and set(v) == {"b64"} else v
            for k, v in item.items()}


def pack(directory: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(directory, arcname=".")
    return buf.getvalue()


def unpack(stream, directory: str) -> None:
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        tar.extractall(directory, filter="data")  # no links out, no devices, no absolute paths


class _Resources:
    def __init__(self, required: dict):
        self.required_resources = dict(required)


class _Context:
    """What a trainable may ask of ``ray.tune.get_context()`` here."""

    def __init__(self, header: dict, workdir: str):
        self._header, self._workdir = header, workdir

    def get_trial_resources(self):
        return _Resources(self._header.get("resources") or {})

    def get_trial_id(self) -> str:
        return self._header.get("trial_id", "")

    def get_trial_name(self) -> str:
        return self._header.get("trial_name", "")

    def get_trial_dir(self) -> str:
        return self._workdir

    def get_world_rank(self) -> int:
        return 0

    def get_world_size(self) -> int:
        return 1


def _install_session(out, header: dict, workdir: str, restored: str | None) -> None:
    """Point Ray Tune's session functions at the pipe (before the trainable is imported)."""
    from ray import train, tune

    def report(metrics: dict, *, checkpoint=None, **_ignored) -> None:
        payload = pack(checkpoint.path) if checkpoint is not None else b""
        send(out, {"type": "report", "metrics": dict(metrics)}, payload)

    def get_checkpoint():
        return tune.Checkpoint.from_directory(restored) if restored else None

    context = _Context(header, workdir)
    for module in (tune, train):
        module.report = report
        module.get_checkpoint = get_checkpoint
        module.get_context = lambda: context


def main(argv: list[str]) -> int:
    from hpsearch import isolation

    isolation.no_new_privs()       # no setuid program can lift this process again
    isolation.die_with_parent()    # the Ray worker's trial thread ends: so does this trial
    out = os.fdopen(int(argv[1]), "wb")
    workdir = tempfile.mkdtemp(prefix="hpsearch-trial-")
    os.chdir(workdir)
    os.environ["HOME"] = workdir
    try:
        send(out, {"type": "hello", "workdir": workdir, "uid": os.getuid()})
        stdin = sys.stdin.buffer
        header = json.loads(stdin.readline())
        restored = None
        if header.get("checkpoint"):
            restored = os.path.join(workdir, "restored")
            os.mkdir(restored)
            unpack(stdin, restored)
        _install_session(out, header, workdir, restored)
        import trainables
        from hpsearch import reporting

        fn = trainables.get_trainable(header["trainable"], allow_import=True).fn
        reporting.start_trial(float(header.get("coalesce_s") or 0.0))
        if header.get("gpu_memory_gb"):  # this process trains: its allocator is the one capped
            from hpsearch.trial import cap_gpu_memory

            cap_gpu_memory(float(header["gpu_memory_gb"]))
        if header.get("media"):
            from hpsearch import media_client

            # The worker enforces the budget; here only the packing and the sending.
            media_client.start_trial(lambda item: send(out, {"type": "media",
                                                            "item": to_wire(item)}),
                                     10**9, 10**12, int(header.get("media_every") or 5))
        try:
            fn(header["config"])
        finally:
            reporting.end_trial()
            if header.get("media"):
                media_client.end_trial()
        send(out, {"type": "done"})
        return 0
    except BaseException as exc:  # noqa: BLE001 - the trial's error goes back to Tune as the trial's
        from hpsearch.trial import is_out_of_memory

        try:
            send(out, {"type": "error", "error": traceback.format_exc()[-20000:],
                       "out_of_memory": is_out_of_memory(exc)})
        except OSError:
            pass
        return 1
    finally:
        os.chdir("/")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
