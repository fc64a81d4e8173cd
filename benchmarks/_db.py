"""Throw-away databases for benchmarks: a fresh SQLite file or PostgreSQL database.

    with fresh_db("postgresql", tmp) as url:   # created here, dropped on exit
        ...
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

PG_ADMIN_URL = os.environ.get("HPSEARCH_BENCH_PG",
                              os.environ.get("HPSEARCH_TEST_PG",
                                             "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"))


def pg_available() -> bool:
    try:
        import psycopg2

        psycopg2.connect(PG_ADMIN_URL.replace("postgresql+psycopg2", "postgresql"),
                         connect_timeout=2).close()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not here"
        return False


@contextmanager
def fresh_pg() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped (with its connections) on exit."""
    from sqlalchemy import create_engine, text

    name = f"hpsearch_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as c:
            c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@contextmanager
def fresh_db(backend: str, workdir: Path) -> Iterator[str]:
    """A fresh database URL for ``backend`` ("sqlite" or "postgresql")."""
    if backend == "postgresql":
        with fresh_pg() as url:
            yield url
        return
    path = Path(workdir) / f"bench-{uuid.uuid4().hex[:8]}.db"
    try:
        yield f"sqlite:///{path}"
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
