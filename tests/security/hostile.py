"""A hostile trainable (allow-listed, so it runs): it looks for every secret of the service
and reports what it found (tests/security/test_trial_boundary.py)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ray import tune

import hpsearch

INTERESTING = ("HPSEARCH_", "PGPASSWORD", "DATABASE_URL", "RAY_AUTH")


def _read(path: str) -> str:
    try:
        if os.path.isdir(path):
            return "ok:dir:" + ",".join(sorted(os.listdir(path)))[:500]
        with open(path, "rb") as f:
            return "ok:" + f.read(4000).decode("utf-8", "replace")
    except OSError as exc:
        return f"denied:{type(exc).__name__}"


@hpsearch.trainable
def probe(config: dict) -> None:
    haul: dict = {"uid": os.getuid(), "euid": os.geteuid(), "groups": os.getgroups()}
    for item in config["targets"]:
        name, _, path = item.partition("=")
        haul[name] = _read(path)
    environs, cmdlines = {}, {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            raw = (proc / "environ").read_bytes()
            found = [kv.decode("utf-8", "replace") for kv in raw.split(b"\0")
                     if kv.startswith(tuple(n.encode() for n in INTERESTING))]
            environs[proc.name] = found or "readable"
        except OSError:
            pass
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            if "hpsearch" in cmd or "ray" in cmd or "--db" in cmd:
                cmdlines[proc.name] = cmd[:400]
        except OSError:
            pass
    haul["environs"] = environs
    haul["cmdlines"] = cmdlines
    haul["own_environ"] = dict(os.environ)
    haul["own_proc_environ"] = _read("/proc/self/environ")
    haul["control"] = _read(__file__)[:20]  # a world-readable file: reading works at all
    # It prints what it found (the trial's log must hold no secret either).
    print("hostile probe haul:", json.dumps(haul)[:50_000], flush=True)
    tune.report({"score": 1.0, "haul": json.dumps(haul)[:200_000]})
