"""session keys: random per-user session binding, user ids never reused, token expiry

Revision ID: 0005_session_keys
Revises: 0002_accounts
Create Date: 2026-12-01

``users.session_version`` (a counter that restarted at 0 for a reused id) becomes
``users.session_key`` (random); SQLite's ``users`` table is rebuilt with
``AUTOINCREMENT`` so that a removed user's id is never given to a new user.
``api_tokens.expires_at`` is new (NULL: valid until revoked).
"""
import secrets

from alembic import op
import sqlalchemy as sa


revision = '0005_session_keys'
down_revision = '0002_accounts'
branch_labels = None
depends_on = None

_TOKEN_COLUMNS = ("id, user_id, name, prefix, token_hash, created_at, last_used_at, revoked_at")


def _fill_session_keys() -> None:
    conn = op.get_bind()
    ids = [r[0] for r in conn.execute(sa.text("SELECT id FROM users"))]
    for uid in ids:
        conn.execute(sa.text("UPDATE users SET session_key = :k WHERE id = :i"),
                     {"k": secrets.token_urlsafe(32), "i": uid})


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # Rebuilding `users` drops the old table, and with foreign keys on that deletes
        # every token (ON DELETE CASCADE): keep them aside and put them back.
        op.execute(f"CREATE TABLE _tokens_keep AS SELECT {_TOKEN_COLUMNS} FROM api_tokens")
    # One rebuild on SQLite (a second would lose AUTOINCREMENT: reflection does not see it);
    # the server default only fills the rows being copied, then each gets a key from Python.
    random_default = "(lower(hex(randomblob(32))))" if sqlite else "md5(random()::text)"
    with op.batch_alter_table('users', recreate='always' if sqlite else 'auto',
                              table_kwargs={'sqlite_autoincrement': True}) as batch_op:
        batch_op.add_column(sa.Column('session_key', sa.String(length=64), nullable=False,
                                      server_default=sa.text(random_default)))
        batch_op.drop_column('session_version')
    _fill_session_keys()
    if not sqlite:
        op.alter_column('users', 'session_key', server_default=None)
    if sqlite:
        op.execute("DELETE FROM api_tokens")
        op.execute(f"INSERT INTO api_tokens ({_TOKEN_COLUMNS}) SELECT {_TOKEN_COLUMNS} "
                   "FROM _tokens_keep")
        op.execute("DROP TABLE _tokens_keep")
    with op.batch_alter_table('api_tokens') as batch_op:
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_tokens') as batch_op:
        batch_op.drop_column('expires_at')
    with op.batch_alter_table('users') as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.drop_column('session_key')
