"""Checkpoints are loaded with weights_only=True: a pickle payload never runs."""
from __future__ import annotations

import os

import pytest
import torch

from trainables import _harness, cnn


class _Payload:
    """Unpickling this would create a marker file: the attack a checkpoint must not allow."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_checkpoint_is_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    torch.save({"format": 1, "family": "cnn", "model": _Payload(marker)},
               checkpoint / _harness.CHECKPOINT_FILE)
    setup = _harness.prepare(cnn.RECIPE, {}, device="cpu")
    with pytest.raises(_harness.CheckpointError, match="not a plain-tensor hpsearch checkpoint"):
        _harness.load_checkpoint(checkpoint, setup)
    with pytest.raises(_harness.CheckpointError):
        _harness.run(cnn.RECIPE, {"epochs": 1}, device="cpu", resume_from=checkpoint)
    assert not marker.exists()


def test_garbage_and_foreign_checkpoints_are_refused(tmp_path):
    setup = _harness.prepare(cnn.RECIPE, {}, device="cpu")
    with pytest.raises(_harness.CheckpointError, match="no state.pt"):
        _harness.load_checkpoint(tmp_path, setup)
    (tmp_path / _harness.CHECKPOINT_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(_harness.CheckpointError):
        _harness.load_checkpoint(tmp_path, setup)
    torch.save({"weights": torch.zeros(3)}, tmp_path / _harness.CHECKPOINT_FILE)
    with pytest.raises(_harness.CheckpointError, match="not an hpsearch checkpoint"):
        _harness.load_checkpoint(tmp_path, setup)
