"""spec -> Ray Tune -> SQL -> CLI and Python API, on a real local Ray."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
import yaml

import hpsearch
from hpsearch.cli import main as cli
from hpsearch.store import Store, StudyStatus, TrialStatus
from tests.helpers import quad_spec

pytestmark = pytest.mark.usefixtures("ray_session")


def test_run_persists_every_trial_and_result_and_a_seed_draws_the_same(home):
    study = hpsearch.run(quad_spec("e2e"), progress=False)
    assert study.status == StudyStatus.COMPLETED
    trials = study.trials
    assert len(trials) == 6 and all(t.status == TrialStatus.COMPLETED for t in trials)
    assert sorted(t.number for t in trials) == list(range(6))
    for t in trials:
        rows = study.results(t.number)
        assert [r["iteration"] for r in rows] == [1, 2, 3]
        assert rows[-1]["loss"] == pytest.approx((t.params["x"] - 2) ** 2 + 1 / 3)
        assert t.value == rows[-1]["loss"]
    best = study.best_trial
    assert best.value == min(t.value for t in trials)
    df = study.to_dataframe()
    assert list(df["number"]) == list(range(6)) and "param_x" in df
    again = hpsearch.load_study("e2e")
    assert again.best_trial.number == best.number
    # Where each trial ran: this node (one Ray node here), in one of its two slots.
    import socket

    import ray

    assert {t.node_id for t in trials} == {ray.get_runtime_context().get_node_id()}
    assert {t.node_host for t in trials} == {socket.gethostname()}
    assert {t.slot for t in trials} <= {0, 1} and all(t.node_ip for t in trials)
    # The same seed (the spec's, 0) draws the same configurations in another study.
    again = hpsearch.run(quad_spec("e2e-again"), progress=False)
    key = lambda s: sorted(round(t.params["x"], 12) for t in s.trials)  # noqa: E731
    assert key(again) == key(study)


def test_persistence_is_live(home):
    """A second connection reads finished trials and results while the study runs."""
    spec = quad_spec("live", fixed={"epochs": 4, "sleep": 0.4},
                     budget={"trials": 4, "max_concurrent": 1})
    seen = {"results": 0, "finished": 0, "while_running": False}

    def watch():
        reader = Store()  # its own engine and connections
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                study = reader.get_study("live")
            except hpsearch.NotFoundError:
                time.sleep(0.1)
                continue
            if study.status != StudyStatus.RUNNING:
                break
            seen["results"] = max(seen["results"], reader.count_results(study.id))
            done = [t for t in reader.trials(study.id) if t.status == TrialStatus.COMPLETED]
            seen["finished"] = max(seen["finished"], len(done))
            if seen["finished"] >= 1 and seen["results"] >= 5:
                seen["while_running"] = True
            time.sleep(0.1)

    t = threading.Thread(target=watch)
    t.start()
    study = hpsearch.run(spec, progress=False)
    t.join()
    assert study.status == StudyStatus.COMPLETED
    assert seen["while_running"], seen


def test_grid_runs_the_full_product(home):
    spec = quad_spec("grid", space={"x": {"grid": [0.0, 1.0, 2.0]}, "y": {"grid": [1, 2]}},
                     searcher={"type": "grid"}, budget={"trials": 100, "max_concurrent": 2},
                     fixed={"epochs": 1})
    study = hpsearch.run(spec, progress=False)
    combos = sorted((t.params["x"], t.params["y"]) for t in study.trials)
    assert combos == [(x, y) for x in (0.0, 1.0, 2.0) for y in (1, 2)]
    assert study.end_reason == "its searcher suggested no more configurations after 6 of 100 trials"


def test_failing_trials_keep_traceback_and_fail_the_study(home):
    spec = quad_spec("fails", trainable="tests.helpers:failing",
                     budget={"trials": 2, "max_concurrent": 2})
    study = hpsearch.run(spec, progress=False)
    assert study.status == StudyStatus.FAILED
    assert "boom at x=" in study.error
    assert study.end_reason == "all 2 trials of its budget ran"
    for t in study.trials:
        assert t.status == TrialStatus.ERROR and "RuntimeError: boom" in t.error


def test_trials_do_not_see_secrets(home, monkeypatch):
    monkeypatch.setenv("HPSEARCH_TOKEN", "s3cret")
    spec = quad_spec("env", trainable="tests.helpers:env_probe",
                     budget={"trials": 1, "max_concurrent": 1})
    study = hpsearch.run(spec, progress=False)
    assert study.trials[0].value == 0.0


def test_cli_submit_list_show(home, tmp_path, capsys):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(quad_spec("cli-run", budget={"trials": 3, "max_concurrent": 2})))
    assert cli(["submit", str(path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "study 'cli-run': COMPLETED, 3 trials" in out and "*" in out
    assert "\nended: all 3 trials of its budget ran\n" in out
    assert cli(["list"]) == 0
    out = capsys.readouterr().out
    assert "cli-run" in out and "3/3" in out
    assert cli(["show", "cli-run"]) == 0
    assert "best loss=" in capsys.readouterr().out
    assert cli(["show", "missing"]) == 2
    assert "no study 'missing'" in capsys.readouterr().err


def test_cli_bad_spec_exits_2_and_writes_nothing(home, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**quad_spec("bad"), "budget": {"trials": 0},
                                    "space": {"x": {"loguniform": [0, 1]}}}))
    proc = subprocess.run([sys.executable, "-m", "hpsearch.cli", "submit", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "budget.trials" in proc.stderr and "got 0" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert Store().list_studies() == []


def test_cli_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as e:
        cli(["submit"])
    assert e.value.code == 2
    assert "usage: hpsearch submit" in capsys.readouterr().err


@pytest.mark.parametrize("argv, words", [
    # Accepted before: a negative --top cut the best rows off, a status no study can have
    # listed nothing, a port past 65535 printed its URL and served nothing.
    (["show", "s", "--top", "-3"], "argument --top: must be a whole number >= 1, got '-3'"),
    (["submit", "s.yaml", "--top", "0"], "argument --top: must be a whole number >= 1, got '0'"),
    (["list", "--status", "done"], "argument --status: invalid choice: 'DONE' (choose from "),
    (["ui", "--port", "99999"], "argument --port: must be a port number 1 to 65535, got '99999'"),
    (["dispatcher", "--metrics-port", "0"], "argument --metrics-port: must be a port number"),
])
def test_cli_options_out_of_range_exit_2(capsys, argv, words):
    with pytest.raises(SystemExit) as e:
        cli(argv)
    assert e.value.code == 2
    assert words in capsys.readouterr().err


def test_cli_list_status_any_case(home, capsys):
    assert cli(["list", "--status", "completed"]) == 0


def test_db_upgrade_command(home, capsys):
    assert cli(["db", "upgrade"]) == 0
    assert "schema at" in capsys.readouterr().out


def test_the_readme_spec_is_valid_and_runs(home):
    """The spec a newcomer copies first (README.md's first yaml block) validates as written,
    and runs here with a smaller budget: 2 trials of 1 epoch on 256 samples (its searcher,
    scheduler, conditional space and on_oom as written)."""
    from pathlib import Path
    import re

    from hpsearch import spec as specmod

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    text = re.search(r"```yaml\n(.*?)```", readme, re.S).group(1)
    specmod.load(text)
    raw = specmod.parse_text(text)
    raw["budget"] = {**raw["budget"], "trials": 2}
    raw["fixed"] = {**raw["fixed"], "epochs": 1, "train_samples": 256}
    study = hpsearch.run(raw, progress=False)
    assert study.status == StudyStatus.COMPLETED, study.error
    assert [t.status for t in study.trials] == [TrialStatus.COMPLETED] * 2


def test_a_trial_no_node_of_the_local_ray_could_run_is_refused_before_anything_is_written(
        home, tmp_path, capsys):
    """On the Ray that hpsearch starts on this machine (2 CPUs, no GPU here; it never gains
    nodes), a trial asking for more than a node has waited forever: Ray only logged every
    minute that it could not schedule it. Now each resource that no node has enough of is a
    spec problem (CLI exit 2), and no study is written."""
    from hpsearch.exceptions import SpecError

    spec = quad_spec("too-big", resources={"cpu": 64, "gpu": 1, "custom": {"A100": 1}})
    with pytest.raises(SpecError) as e:
        hpsearch.run(spec, progress=False)
    got = dict(e.value.problems)
    assert set(got) == {"resources.cpu", "resources.gpu", "resources.custom.A100"}, got
    assert "64 per trial, but no node of this Ray has that much CPU (the most: 2)" in \
        got["resources.cpu"]
    assert "no node of this Ray has that much GPU (the most: 0)" in got["resources.gpu"]
    assert "1 per trial, but no node of this Ray declares A100 (a node declares it with `ray " \
           "start --resources`" in got["resources.custom.A100"]
    # Data-parallel: each worker fits, but not all of one trial's workers at once.
    with pytest.raises(SpecError) as e:
        hpsearch.run(quad_spec("too-wide", resources={"workers": 3, "cpu": 1}), progress=False)
    assert "3 workers of CPU 1 each, but this Ray has room for 2" in \
        dict(e.value.problems)["resources.workers"]
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert cli(["submit", str(path), "--no-progress"]) == 2
    assert "resources.gpu: 1 per trial, but no node" in capsys.readouterr().err
    assert Store().list_studies() == []
