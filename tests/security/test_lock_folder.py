"""The driver lock cannot be turned against the service user's files (finding 7): a private
0700 folder per user, O_NOFOLLOW, and an owner check."""
from __future__ import annotations

import hashlib
import os
import stat
import tempfile

import pytest

from hpsearch.exceptions import HpsearchError
from hpsearch.orchestration import driver_lock
from hpsearch.store import Store


@pytest.fixture
def tmp_root(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the machine's temp dir, here
    return tmp_path


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'lock.db'}")
    yield s
    s.dispose()


def _plant(link, victim) -> None:
    link.parent.mkdir(mode=0o1777, exist_ok=True)
    link.symlink_to(victim)


def test_a_planted_link_cannot_make_a_driver_overwrite_a_file(tmp_root, store):
    victim = tmp_root / "victim.txt"
    victim.write_text("precious")
    key = hashlib.sha256(f"{store.safe_url}|7".encode()).hexdigest()[:20]
    # Another local user plants links where a driver would open its lock: the shared folder...
    _plant(tmp_root / "hpsearch-locks" / f"study-{key}.lock", victim)
    # ...and, had it not been made yet, this user's own folder, as a folder they own
    mine = tmp_root / f"hpsearch-locks-{os.geteuid()}"
    mine.mkdir(mode=0o700)
    (mine / f"study-{key}.lock").symlink_to(victim)
    with pytest.raises(HpsearchError, match="symbolic link"):
        with driver_lock(store, 7):
            pass
    assert victim.read_text() == "precious"
    (mine / f"study-{key}.lock").unlink()
    with driver_lock(store, 7):  # a clean folder: the lock works
        pass
    assert victim.read_text() == "precious"
    assert stat.S_IMODE(os.lstat(mine).st_mode) == 0o700


def test_a_lock_folder_made_by_someone_else_is_refused(tmp_root, store):
    other = tmp_root / f"hpsearch-locks-{os.geteuid()}"
    victim = tmp_root / "victim-dir"
    victim.mkdir()
    other.symlink_to(victim)  # a link in place of the folder
    with pytest.raises(HpsearchError, match="refusing the lock folder"):
        with driver_lock(store, 8):
            pass
    assert list(victim.iterdir()) == []
    other.unlink()
    other.mkdir(mode=0o777)  # open to everyone
    other.chmod(0o777)
    with pytest.raises(HpsearchError, match="mode 0700"):
        with driver_lock(store, 8):
            pass
    if os.geteuid() == 0:  # CI runs as root: a folder owned by another user
        other.chmod(0o700)
        os.chown(other, 65534, 65534)
        with pytest.raises(HpsearchError, match="refusing the lock folder"):
            with driver_lock(store, 8):
                pass
