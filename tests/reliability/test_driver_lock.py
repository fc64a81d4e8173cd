"""One driver per study on a machine: a second is refused, or waits for the first to go."""
from __future__ import annotations

import threading
import time

import pytest

from hpsearch.exceptions import ConflictError
from hpsearch.orchestration import driver_lock
from hpsearch.store import Store


def test_a_second_driver_is_refused_then_admitted(sqlite_url):
    store = Store(sqlite_url)
    with driver_lock(store, 7):
        with pytest.raises(ConflictError, match=r"study 7 is being run by another driver .*pid \d+"):
            with driver_lock(store, 7):
                pass
        with driver_lock(store, 8):  # another study of the same database
            pass
        with driver_lock(Store(sqlite_url.replace(".db", "-other.db")), 7):  # another database
            pass
    with driver_lock(store, 7):  # released with the first holder
        pass


def test_a_taking_over_driver_waits_for_the_old_one(sqlite_url):
    store = Store(sqlite_url)
    held, release, gone = threading.Event(), threading.Event(), threading.Event()

    def old_driver():
        with driver_lock(store, 3):
            held.set()
            release.wait(10)
            time.sleep(0.3)  # still holding it while the new driver asks
            gone.set()  # the last thing before the lock is released

    t = threading.Thread(target=old_driver)
    t.start()
    held.wait(10)
    release.set()
    with driver_lock(store, 3, wait_s=10):
        assert gone.is_set()  # admitted only once the old driver let go, not refused
    t.join()
