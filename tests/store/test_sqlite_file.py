"""The SQLite file is private (0600), made so without opening an existing file: closing any
descriptor of a database file drops every POSIX lock the process holds on it, and a web
app's next write then failed with "disk I/O error" once a CLI process had opened and
closed the same file (seen in tests/outputs/test_logs.py: the role test after the
`hpsearch logs --db` test, 3 runs out of 3 before this fix)."""
from __future__ import annotations

import os
import stat

from hpsearch.store import Store


def test_a_new_database_file_is_private(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'new.db'}")
    store.ping()
    assert stat.S_IMODE(os.stat(tmp_path / "new.db").st_mode) == 0o600
    store.dispose()


def test_an_existing_file_is_made_private(tmp_path):
    path = tmp_path / "old.db"
    Store(f"sqlite:///{path}").dispose()
    path.chmod(0o644)
    Store(f"sqlite:///{path}").dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
