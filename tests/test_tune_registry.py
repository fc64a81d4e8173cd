"""Tune reads a trainable from the GCS once per driver, and still sees every change to it."""
from __future__ import annotations

import pytest


def test_a_trainable_is_read_once_and_a_new_registration_replaces_it(ray_session):
    from ray.experimental.internal_kv import _internal_kv_del
    from ray.tune import registry
    from ray.tune.error import TuneError

    from hpsearch import tune_registry

    tune_registry.install()

    def first(config):
        return {"which": 1}

    def second(config):
        return {"which": 2}

    registry.register_trainable("hps-registry-probe", first)
    assert registry.get_trainable_cls("hps-registry-probe")._name == "first"
    # Read once: the trial loop's later lookups do not go back to the GCS (here the entry
    # is gone from it, and the driver still answers as before).
    key = registry._make_key(registry._global_registry.prefix, registry.TRAINABLE_CLASS,
                             "hps-registry-probe")
    _internal_kv_del(key)
    registry.validate_trainable("hps-registry-probe")
    cls = registry.get_trainable_cls("hps-registry-probe")
    assert cls._name == "first" and cls is registry.get_trainable_cls("hps-registry-probe")
    # Registered again under the same name: the new trainable, not the kept one.
    registry.register_trainable("hps-registry-probe", second)
    assert registry.get_trainable_cls("hps-registry-probe")._name == "second"
    # Removed: unknown again, with Tune's own error.
    registry._global_registry.unregister(registry.TRAINABLE_CLASS, "hps-registry-probe")
    with pytest.raises(TuneError, match="Unknown trainable"):
        registry.validate_trainable("hps-registry-probe")
