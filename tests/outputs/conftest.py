"""Fixtures for trial logs and media: studies run once per module on a real Ray."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from hpsearch.store import Store


def spec(name: str, trainable: str, trials: int = 1, **fixed) -> dict:
    return {"name": name, "trainable": trainable, "metric": "loss", "mode": "min",
            "space": {"x": {"uniform": [0.1, 1.0]}}, "budget": {"trials": trials},
            "fixed": fixed}


@pytest.fixture(scope="module")
def outputs_env(tmp_path_factory):
    """A private home and database for the module, with a small log cap."""
    tmp = tmp_path_factory.mktemp("outputs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HPSEARCH_HOME", str(tmp / "home"))
        mp.setenv("HPSEARCH_TRIAL_LOG_MAX_CHARS", "20000")
        store = Store(f"sqlite:///{tmp / 'outputs.db'}")
        yield SimpleNamespace(tmp=tmp, url=store.url, store=store, home=tmp / "home")
        store.dispose()


def web_app(url: str, **config):
    from webui import create_app

    return create_app({"TESTING": True, "DATABASE_URL": url, **config})
