"""Alembic environment: the store's models are the single source of the schema.

Run through ``hpsearch db upgrade`` (which passes its connection in
``config.attributes["connection"]``), or ``alembic -c migrations/alembic.ini``
with ``HPSEARCH_DB`` set.
"""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from hpsearch.store.models import Base
from hpsearch.store.store import default_url, engine_url

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(engine_url(config.get_main_option("sqlalchemy.url") or default_url()))
    with engine.begin() as conn:
        _run(conn)


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=engine_url(config.get_main_option("sqlalchemy.url") or default_url()),
                      target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
