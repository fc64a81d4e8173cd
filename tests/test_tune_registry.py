"""Tune reads a trainable from the GCS once per driver while hpsearch runs a study, and
still sees every change to it; other Tune experiments in the process read it as Tune does."""
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
    with tune_registry.keeping():  # as while a study's Tuner runs
        assert registry.get_trainable_cls("hps-registry-probe")._name == "first"
        # Read once: the trial loop's later lookups do not go back to the GCS (here the
        # entry is gone from it, and the driver still answers as before).
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


def test_outside_a_study_tune_reads_the_registry_itself(ray_session):
    """A notebook's own Tuner (or the benchmark's bare Ray Tune) gets Tune as shipped."""
    from ray.experimental.internal_kv import _internal_kv_del
    from ray.tune import registry
    from ray.tune.error import TuneError

    from hpsearch import tune_registry

    tune_registry.install()

    def probe(config):
        return {}

    registry.register_trainable("hps-registry-outside", probe)
    with tune_registry.keeping():
        registry.validate_trainable("hps-registry-outside")  # kept by the study
    _internal_kv_del(registry._make_key(registry._global_registry.prefix,
                                        registry.TRAINABLE_CLASS, "hps-registry-outside"))
    with pytest.raises(TuneError, match="Unknown trainable"):  # read from the GCS again
        registry.validate_trainable("hps-registry-outside")
