"""No unpickling of untrusted data: a checkpoint crafted to run code does not run it.

tests/trainables/test_checkpoint_security.py covers a payload inside torch's zip
format; this one writes a bare pickle (torch's legacy format), the other way in.
"""
from __future__ import annotations

import os
import pickle

import pytest


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_bare_pickle_checkpoint_is_refused_without_running(tmp_path):
    from trainables import _harness, cnn

    marker = tmp_path / "pwned"
    (tmp_path / _harness.CHECKPOINT_FILE).write_bytes(
        pickle.dumps({"format": 1, "family": "cnn", "model": _Payload(marker)}, protocol=2))
    setup = _harness.prepare(cnn.RECIPE, {}, device="cpu")
    with pytest.raises(_harness.CheckpointError, match="refusing checkpoint"):
        _harness.load_checkpoint(tmp_path, setup)
    assert not marker.exists()
