"""Shared fixtures: one real local Ray per test session, real SQLite and PostgreSQL.

PostgreSQL tests use a fresh database on the server at 127.0.0.1:5432 (created
here, dropped at the end) and are skipped only where no server answers.
"""
from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("HPSEARCH_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")

# Ray workers inherit this environment when Ray starts: they must import tests.helpers.
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
os.environ.setdefault("HPSEARCH_HOME", str(Path(os.environ.get("TMPDIR", "/tmp")) / f"hpsearch-tests-{os.getpid()}"))
if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs two sessions at once: a home each
    os.environ["HPSEARCH_HOME"] = str(Path(os.environ["HPSEARCH_HOME"]) / os.environ["PYTEST_XDIST_WORKER"])
os.environ.pop("HPSEARCH_DB", None)


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole session (ray.init takes ~3 s)."""
    import ray

    from hpsearch.orchestration import ensure_ray

    ensure_ray(num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A private HPSEARCH_HOME (embedded database, experiment state, journals)."""
    monkeypatch.setenv("HPSEARCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'hpsearch.db'}"


def _pg_available() -> bool:
    try:
        import psycopg2

        psycopg2.connect(PG_ADMIN_URL.replace("postgresql+psycopg2", "postgresql"), connect_timeout=2).close()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture(scope="session")
def pg_server():
    if not _pg_available():
        pytest.skip("no PostgreSQL server answers at 127.0.0.1:5432")
    return PG_ADMIN_URL


@pytest.fixture
def pg_url(pg_server):
    """A fresh, empty PostgreSQL database for one test."""
    from sqlalchemy import create_engine, text

    name = f"hpsearch_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = pg_server.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.connect() as c:
        c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Both backends: the store's tests run on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hpsearch.db'}"
    return request.getfixturevalue("pg_url")


def pytest_configure(config):
    sys.path.insert(0, str(ROOT))



# `make test` runs two test sessions at once (pytest-xdist, ``-n 2``): each process has its
# own Ray, and a package's tests (a module's, at the top level) stay in one process, so its
# package- and session-scoped fixtures (a two-node Ray cluster, a trained source study) are
# built once. Heaviest packages first (by their durations in a serial run), so that the two
# sessions end together instead of one waiting on a big package handed out last.
# (xdist's own ``--dist loadgroup`` does not group under pytest 9: it renames ``_nodeid``,
# which pytest 9 no longer reads.)
HEAVY_FIRST = ("service", "ddp", "reliability", "webui", "transfer", "security", "trainables")
# Modules of pure computation (no Ray, no shared fixture; 5 min in all): last, and each
# test handed out by itself, so that both sessions finish on short tests instead of one
# of them running a whole package while the other has nothing left.
FILL_LAST = ("searchers/test_searcher_conformance.py", "searchers/test_bayesian_searcher.py")


def _module(path: str) -> str:
    """``.../tests/searchers/test_x.py`` -> ``searchers/test_x.py``."""
    parts = Path(path).parts
    return "/".join(parts[parts.index("tests") + 1:])


def _group(path: str) -> str:
    """``tests/service/test_x.py`` -> ``service``; ``tests/test_y.py`` -> ``test_y.py``."""
    return _module(path).split("/", 1)[0]


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        if _module(str(item.fspath)) in FILL_LAST:
            return len(HEAVY_FIRST) + 1
        g = _group(str(item.fspath))
        return HEAVY_FIRST.index(g) if g in HEAVY_FIRST else len(HEAVY_FIRST)

    items.sort(key=rank)  # stable: every package and module keeps its own order


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class ByPackage(LoadScopeScheduling):
        """Hands out a package (or a top-level module) at a time, in collection order
        (a FILL_LAST module's tests one by one)."""

        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return nodeid if _module(path) in FILL_LAST else _group(path)

    config.option.loadscopereorder = False  # keep the order above
    return ByPackage(config, log)
