"""Each family searched end to end: `hpsearch submit` -> Ray Tune -> SQL."""
from __future__ import annotations

import copy

import pytest
import yaml

import hpsearch
import trainables
from hpsearch.cli import main as cli
from hpsearch.store import Store, StudyStatus, TrialStatus

pytestmark = pytest.mark.usefixtures("ray_session")


# What each family draws at its first and last epoch (trainables/_media.py).
FAMILY_MEDIA = {"cnn": {"confusion", "misclassified"}, "rnn": {"confusion", "misclassified"},
                "autoencoder": {"reconstructions"}, "vae": {"samples", "reconstructions"},
                "gan": {"samples"}}


@pytest.mark.parametrize("family", sorted(trainables.BUILTIN))
def test_family_search_through_submit(family, home, tmp_path, capsys):
    spec = copy.deepcopy(trainables.describe(family).template)  # examples/<family>.yaml
    spec["name"] = f"{family}-e2e"
    spec["budget"] = {"trials": 2, "max_concurrent": 2}
    spec["fixed"] = {**spec.get("fixed", {}), "epochs": 2, "train_samples": 256}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert cli(["submit", str(path), "--no-progress"]) == 0
    assert f"study '{family}-e2e': COMPLETED, 2 trials" in capsys.readouterr().out
    store = Store()
    study = store.get_study(f"{family}-e2e")
    assert study.status == StudyStatus.COMPLETED
    for trial in store.trials(study.id):
        assert trial.status == TrialStatus.COMPLETED and trial.value is not None
        results = store.results(trial.id)
        assert [r.iteration for r in results] == [1, 2]
        assert study.metric in results[-1].metrics and results[-1].metrics["epoch"] == 2
        if family in FAMILY_MEDIA:  # a family added later is searched end to end all the same
            check_family_media(store, trial, FAMILY_MEDIA[family], steps={1, 2})


def check_family_media(store, trial, names: set[str], steps: set[int]) -> None:
    """The family's media at each step, re-encoded files that decode, small."""
    from hpsearch.media import load
    from hpsearch.store.outputs import trial_media

    rows = trial_media(store, trial.id)
    assert {(m.name, m.step) for m in rows} == {(n, s) for n in names for s in steps}
    for m in rows:
        value = load(m.kind, m.path)
        if m.kind == "image":
            assert value.ndim == 3 and min(value.shape[:2]) >= 32 and value.dtype.name == "uint8"
        else:
            assert value.data, m.name  # a plotly figure with traces
        assert m.bytes < 64 * 1024, (m.name, m.bytes)


def test_notebook_registered_trainable(home):
    from ray import tune

    @hpsearch.trainable("nb-quadratic", metric="loss", mode="min")
    def nb_quadratic(config):
        tune.report({"loss": (config["x"] - 1.0) ** 2})

    study = hpsearch.run({"name": "nb", "trainable": "nb-quadratic",
                          "space": {"x": {"uniform": [0.0, 2.0]}},
                          "budget": {"trials": 3, "max_concurrent": 1}}, progress=False)
    assert study.status == StudyStatus.COMPLETED and len(study.trials) == 3
    assert study.metric == "loss" and study.mode == "min"
