"""A trainable that reports which secrets it can see (run by Ray workers)."""
from __future__ import annotations

import os

from ray import tune

# Listed here, not imported from hpsearch.orchestration: the test must fail if one is dropped.
SECRETS = ("HPSEARCH_DB", "DATABASE_URL", "PGPASSWORD", "HPSEARCH_SECRET_KEY",
           "HPSEARCH_SECRET_KEY_FILE", "HPSEARCH_TOKEN")


def env_probe(config: dict) -> None:
    seen = [k for k in SECRETS if k in os.environ]
    tune.report({"leaked": float(len(seen)), "names": ",".join(seen) or "-",
                 "canary": float("HPSEARCH_CANARY" in os.environ)})
