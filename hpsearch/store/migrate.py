"""Alembic, driven from code: current/head revisions and upgrade."""
from __future__ import annotations

import functools
import threading
import time
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import Engine

import migrations

SCRIPT_LOCATION = str(Path(migrations.__file__).parent)
_lock = threading.Lock()  # Alembic's context proxies are process-global


def _config(connection=None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.lru_cache(maxsize=None)
def head_revision() -> str:
    """The newest revision in migrations/ (read once per process: the files do not change)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def has_foreign_tables(engine: Engine) -> bool:
    names = set(inspect(engine).get_table_names()) - {"alembic_version"}
    return bool(names)


# SQLite's transient lock failures: SQLITE_PROTOCOL ("locking protocol"), which WAL mode
# returns when a lock race persists through its own retries (seen on a loaded CI machine
# on a new file's first commit), and a busy_timeout that ran out. The upgrade's transaction
# rolled back whole (SQLite's DDL is transactional), so it is tried again.
_TRANSIENT = ("locking protocol", "database is locked")
_ATTEMPTS = 5


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade under a database-wide lock, so concurrent first uses don't race; a transient
    SQLite lock failure is retried (up to ``_ATTEMPTS`` tries in all)."""
    from sqlalchemy.exc import OperationalError

    delay = 0.1
    for attempt in range(_ATTEMPTS):
        try:
            return _upgrade_once(engine, revision)
        except OperationalError as exc:
            if (engine.dialect.name != "sqlite" or attempt == _ATTEMPTS - 1
                    or not any(t in str(exc.orig) for t in _TRANSIENT)):
                raise
            time.sleep(delay)
            delay *= 2


def _upgrade_once(engine: Engine, revision: str) -> None:
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import text

    with _lock, engine.execution_options(sqlite_immediate=True).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7242001)"))
        if revision == "head" and MigrationContext.configure(conn).get_current_revision() == head_revision():
            return  # another process got here first
        command.upgrade(_config(conn), revision)
