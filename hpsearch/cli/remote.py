"""The CLI against a running service: ``submit --server``, ``cancel --server``."""
from __future__ import annotations

import sys

from hpsearch.cli.format import fmt, table
from hpsearch.status import StudyStatus


def submit(server: str, raw: dict, *, wait: bool, top: int) -> int:
    """Queue ``raw`` on ``server``; print its id at once, then follow it with ``wait``."""
    from hpsearch.client import Client

    client = Client(server)
    study = client.submit(raw)
    d = study.data
    print(f"queued study {study.id} ({d['name']!r}) on {client.server}", flush=True)
    print(f"follow it: {client.server}/studies/{study.id}", flush=True)
    if not wait:
        return 0

    def show(d: dict) -> None:
        best = "" if d.get("best_value") is None else f", best {d['metric']}={fmt(d['best_value'])}"
        print(f"study {d['id']}: {d['status']}, {d.get('trials_done', 0)}/{d['n_trials']} "
              f"trials{best}", flush=True)
        if d.get("waiting"):
            print(f"waiting: {d['waiting']}", flush=True)

    study.wait(on_change=show)
    d = study.data
    rows = client.trials(study.id, sort="-value" if d["mode"] == "max" else "value",
                         per_page=max(1, min(top, 200)))
    names = list(dict.fromkeys(k for t in rows for k in t["params"]))
    print(table(["trial"] + names + [d["metric"], "status"],
                [[t["number"]] + [t["params"].get(n) for n in names] + [t["value"], t["status"]]
                 for t in rows]))
    if d.get("end_reason"):
        print(f"ended: {d['end_reason']}")
    if d.get("error"):
        print(f"error: {d['error']}", file=sys.stderr)
    return 0 if d["status"] == StudyStatus.COMPLETED else 1


def cancel(server: str, ref: str) -> int:
    from hpsearch.client import Client

    client = Client(server)
    d = client.cancel(ref)
    state = "cancelled" if d.get("cancelled") else "cancel requested (it stops within seconds)"
    print(f"study {d['id']} on {client.server}: {state}")
    return 0
