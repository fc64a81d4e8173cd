"""The study's sink: what trials send besides results (log chunks, media, where they run),
held for the driver.

One actor per running study (no CPU). Trials call ``log``/``media`` without
waiting; the driver's store callback calls ``drain`` every ``DRAIN_EVERY_S`` and
turns what it gets into writer ops (hpsearch/tune_callback.py). A trial never
holds a database connection: the sink is the only way its output reaches SQL.
"""
from __future__ import annotations

DRAIN_EVERY_S = 0.5


class TrialSink:
    """Run as a Ray actor (see :func:`start_sink`)."""

    def __init__(self):
        self._logs: list[tuple[str, int, str]] = []
        self._media: list[tuple[str, dict]] = []
        self._oom: dict[str, list[dict]] = {}  # ray id -> out-of-memory retries (hpsearch/oom.py)
        self._placements: list[tuple[str, dict]] = []  # (ray id, {node_id, node_host, node_ip, t})

    def log(self, ray_id: str, offset: int, text: str) -> None:
        self._logs.append((ray_id, offset, text))

    def media(self, ray_id: str, item: dict) -> None:
        self._media.append((ray_id, item))

    def placement(self, ray_id: str, where: dict) -> None:
        self._placements.append((ray_id, where))

    def oom_retry(self, ray_id: str, record: dict) -> None:
        self._oom.setdefault(ray_id, []).append(record)

    def oom_retries(self, ray_id: str) -> list[dict]:
        """A trial's retries, handed over once (the driver asks when the trial ends)."""
        return self._oom.pop(ray_id, [])

    def drain(self) -> tuple[list, list, list]:
        out = (self._logs, self._media, self._placements)
        self._logs, self._media, self._placements = [], [], []
        return out


def start_sink():
    """A sink actor for one study run (it dies with the driver)."""
    import ray

    return ray.remote(num_cpus=0, max_restarts=0)(TrialSink).remote()
