"""A small trained CNN study on the digits, shared by the export, cold-start and deploy tests."""
from __future__ import annotations

import pytest

SOURCE = "cnn-source"


def cnn_spec(name: str, **over) -> dict:
    spec = {
        "name": name, "trainable": "cnn", "dataset": "digits",
        "space": {"lr": {"loguniform": [3e-3, 1e-2]}},
        "fixed": {"epochs": 2, "train_samples": 400, "conv_layers": 1, "channels": 8,
                  "batch_size": 32},
        "budget": {"trials": 2, "max_concurrent": 2},
        "seed": 0,
    }
    spec.update(over)
    return spec


@pytest.fixture(scope="session")
def source_db(ray_session, tmp_path_factory):
    """The database URL of a finished two-trial CNN study named :data:`SOURCE`."""
    from hpsearch.orchestration import run_study
    from hpsearch.store import Store

    url = f"sqlite:///{tmp_path_factory.mktemp('transfer') / 'hpsearch.db'}"
    store = Store(url, upgrade=True)
    row = run_study(cnn_spec(SOURCE), store=store, progress=False)
    assert row.status == "COMPLETED", row.error
    return url
