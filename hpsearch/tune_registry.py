"""One registry read per trainable, not three per trial (Ray Tune, pinned version).

Ray Tune (2.60) looks a trial's trainable up in its registry three times as it creates the
trial: ``Trial.__init__`` checks the name, ``create_placement_group_factory`` checks it again
and reads the pickled class. Each is a round trip to the GCS's key-value store from the
driver's loop: about 2.5 ms per trial here (pyinstrument over 1,000 no-op trials on a quiet
machine), more than hpsearch's own per-trial work.

:func:`install` keeps the registry's answer for a trainable in the driver after the first
read, and the class unpickled from it (cloudpickle returns the same class object for the same
bytes on every load, so Tune sees exactly what it saw); a name registered again or removed drops
its entry (Tune's ``register`` / ``unregister``), and a new Ray session (``ray.init``) drops
them all. A name not (yet) in the registry is not kept, so it is read again next time.
Other categories (Tune's environment, model and parameter entries) are read as before.

The kept answers are used only while one of hpsearch's studies runs in this process
(:func:`keeping`, around ``Tuner.fit``): other Ray Tune experiments in the same process (a
notebook's own ``tune.Tuner``, the benchmark's bare Ray Tune rows) read the registry as Ray
Tune ships it.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

_MARK = "_hpsearch_keeps_trainables"
_values: dict[tuple[str, str, str], bytes] = {}  # (job prefix, category, name) -> pickled value
# Pickled value -> the class. cloudpickle gives back the very same class object for the same
# bytes on every load (its class tracker), so keeping it changes nothing but the time.
_loaded: dict[bytes, object] = {}
_studies = 0  # hpsearch studies running in this process (:func:`keeping`)
_lock = threading.Lock()


@contextmanager
def keeping() -> Iterator[None]:
    """While inside, Tune's trainable lookups use the kept answers (after :func:`install`)."""
    global _studies
    with _lock:
        _studies += 1
    try:
        yield
    finally:
        with _lock:
            _studies -= 1


def _forget(category: str, key: str) -> None:
    for k in [k for k in _values if k[1:] == (category, key)]:
        _loaded.pop(_values.pop(k, b""), None)


def _forget_all() -> None:
    _values.clear()
    _loaded.clear()


def install() -> None:
    """Patch Tune's registry once per process (idempotent); it keeps answers only
    inside :func:`keeping`."""
    import ray
    from ray.experimental.internal_kv import _internal_kv_get, _internal_kv_initialized
    from ray.tune import registry

    cls = registry._Registry
    if getattr(cls, _MARK, False):
        return
    contains, get = cls.contains, cls.get
    register, unregister = cls.register, cls.unregister

    def _read(self, category: str, key: str) -> bytes | None:
        k = (self.prefix, category, key)
        value = _values.get(k)
        if value is None:
            value = _internal_kv_get(registry._make_key(self.prefix, category, key))
            if value is not None:
                _values[k] = value
        return value

    def _kept(category: str) -> bool:
        return (_studies > 0 and category == registry.TRAINABLE_CLASS
                and _internal_kv_initialized())

    def contains_kept(self, category, key):
        if not _kept(category):
            return contains(self, category, key)
        return _read(self, category, key) is not None

    def get_kept(self, category, key):
        if not _kept(category):
            return get(self, category, key)
        value = _read(self, category, key)
        if value is None:
            return get(self, category, key)  # Tune's own error
        loaded = _loaded.get(value)
        if loaded is None:
            loaded = _loaded[value] = registry.pickle.loads(value)
        return loaded

    def register_forgets(self, category, key, value):
        _forget(category, key)
        return register(self, category, key, value)

    def unregister_forgets(self, category, key):
        _forget(category, key)
        return unregister(self, category, key)

    cls.contains, cls.get = contains_kept, get_kept
    cls.register, cls.unregister = register_forgets, unregister_forgets
    ray._private.worker._post_init_hooks.append(_forget_all)
    setattr(cls, _MARK, True)
