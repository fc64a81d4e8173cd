"""Fixtures for the trainables tests: no Ray, CPU only, a private cache directory."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Keep the GAN's cached feature network out of the user's ~/.cache."""
    old = os.environ.get("HPSEARCH_CACHE_DIR")
    os.environ["HPSEARCH_CACHE_DIR"] = str(tmp_path_factory.mktemp("hpsearch-cache"))
    yield
    if old is None:
        os.environ.pop("HPSEARCH_CACHE_DIR", None)
    else:
        os.environ["HPSEARCH_CACHE_DIR"] = old
