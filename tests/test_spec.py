from __future__ import annotations

import json

import pytest

import searchers
from hpsearch import spec as specmod
from hpsearch.exceptions import SpecError
from tests.helpers import quad_spec


def problems(raw) -> dict:
    with pytest.raises(SpecError) as e:
        specmod.load(raw)
    return dict(e.value.problems)


def test_valid_spec_fills_defaults():
    s = specmod.load(quad_spec("ok"))
    d = s.to_dict()
    assert d["scheduler"] == {"type": "fifo"} and d["resources"]["cpu"] == 1.0
    assert d["budget"]["max_concurrent"] == 2
    assert s.fingerprint() == specmod.load(quad_spec("ok")).fingerprint()


def test_yaml_and_json_text_and_file(tmp_path):
    raw = quad_spec("files")
    p = tmp_path / "s.json"
    p.write_text(json.dumps(raw))
    assert specmod.load(str(p)).name == "files"
    import yaml
    y = tmp_path / "s.yaml"
    y.write_text(yaml.safe_dump(raw))
    assert specmod.load(y).name == "files"
    assert specmod.load(yaml.safe_dump(raw)).name == "files"


def test_numbers_read_as_json_and_yaml_1_2_read_them():
    """``1e-4`` is a number in JSON and in YAML 1.2; PyYAML's YAML 1.1 reads it as the text
    '1e-4' (no dot), so a spec copied from JSON or written as most people write a learning
    rate was refused ("must be a finite number, got '1e-4'"). A quoted one stays text."""
    text = ("name: lr\ntrainable: tests.helpers:quadratic\nmetric: loss\nmode: min\n"
            "space: {x: {loguniform: [1e-4, 1E+1]}, y: {choice: [-2e-3, .5e1, 3., '1e-4']}}\n"
            "budget: {trials: 2}\n")
    raw = specmod.parse_text(text)
    assert raw["space"]["x"]["loguniform"] == [1e-4, 10.0]
    assert raw["space"]["y"]["choice"] == [-2e-3, 5.0, 3.0, "1e-4"]
    assert specmod.load(text).space["x"] == {"loguniform": [1e-4, 10.0]}
    as_json = json.dumps({**quad_spec("lr-json"), "space": {"x": {"uniform": [-1e-5, 2e-6]}}})
    assert "[-1e-05, 2e-06]" in as_json
    assert specmod.load(as_json).space["x"] == {"uniform": [-1e-5, 2e-6]}
    # What YAML 1.1 already read is read the same: ints, dotted floats, inf, nan, text.
    assert specmod.parse_text("a: [1, -2, 0x1f, 1.5, .inf, 1_000, 1e4x, e5, 1.2.3]") == {
        "a": [1, -2, 31, 1.5, float("inf"), 1000, "1e4x", "e5", "1.2.3"]}


@pytest.mark.parametrize("scheduler, epochs, field, words", [
    # Ray's ASHA asserts grace_period <= max_t: the study was written, then FAILED.
    ({"type": "asha", "grace_period": 10, "max_t": 5}, 20, "scheduler.grace_period",
     "10 is more than max_t (5)"),
    ({"type": "asha", "grace_period": 10}, 3, "scheduler.grace_period",
     "10 is more than max_t (3, fixed.epochs)"),
    # Runs, but no trial ever reaches the scheduler's first decision: early stopping is off.
    ({"type": "asha", "grace_period": 10, "max_t": 50}, 4, "scheduler.grace_period",
     "10 is more than the 4 epochs a trial runs (fixed.epochs): ASHA would stop no trial"),
    ({"type": "median", "grace_period": 6}, 5, "scheduler.grace_period",
     "6 is more than the 5 epochs a trial runs (fixed.epochs): the median rule would stop no "
     "trial"),
    ({"type": "pbt", "perturbation_interval": 4}, 4, "scheduler.perturbation_interval",
     "4 is not less than the 4 epochs a trial runs (fixed.epochs): PBT would never exploit"),
])
def test_a_scheduler_that_could_not_act_on_the_trials_is_refused(scheduler, epochs, field, words):
    got = problems(quad_spec("sched", scheduler=scheduler, fixed={"epochs": epochs}))
    assert words in got.get(field, ""), got


@pytest.mark.parametrize("scheduler, epochs", [
    ({"type": "asha", "grace_period": 3}, 3),        # its one rung at the last epoch
    ({"type": "asha", "grace_period": 2, "max_t": 100}, 9),
    ({"type": "median", "grace_period": 5}, 5),
    ({"type": "pbt", "perturbation_interval": 2}, 4),
    ({"type": "hyperband", "max_t": 100}, 2),
])
def test_schedulers_that_fit_the_trials_pass(scheduler, epochs):
    specmod.load(quad_spec("sched", scheduler=scheduler, fixed={"epochs": epochs}))


@pytest.mark.parametrize("change, field, words", [
    ({"resources": {"cpus": 1}}, "resources.cpus",
     "unknown field (did you mean 'cpu'?); valid: workers, cpu, gpu, gpu_memory_gb, custom"),
    ({"budget": {"trials": 2, "max_concurency": 2}}, "budget.max_concurency",
     "unknown field (did you mean 'max_concurrent'?); valid: trials, max_concurrent,"),
    ({"objectives": [{"metric": "loss", "mdoe": "min"}]}, "objectives[0].mdoe",
     "(did you mean 'mode'?); valid: metric, mode, reference"),
    ({"searchr": {"type": "random"}}, "searchr", "unknown field (did you mean 'searcher'?)"),
    ({"searcher": {"type": "bayesian", "n_initial_point": 3}}, "searcher.n_initial_point",
     "(did you mean 'n_initial_points'?); valid:"),
    ({"scheduler": {"type": "asha", "grace": 1}}, "scheduler.grace",
     "(did you mean 'grace_period'?); valid:"),
    ({"colour": "red"}, "colour", "unknown field; valid: name, trainable,"),  # nothing near
])
def test_an_unknown_name_says_which_known_one_it_is_near(change, field, words):
    got = problems({**quad_spec("typo"), **change})
    assert words in got.get(field, ""), got


def test_a_hyperparameter_the_family_lacks_says_which_one_it_is_near():
    cnn = {"name": "typo", "trainable": "cnn", "dataset": "digits", "metric": "val_accuracy",
           "mode": "max", "budget": {"trials": 2}}
    got = problems({**cnn, "space": {"chanels": {"int": [8, 32]}}, "fixed": {"dropuot": 0.2}})
    assert "'cnn' has no hyperparameter 'chanels' (did you mean 'channels'?); valid: " in \
        got["space.chanels"], got
    assert "'cnn' has no hyperparameter 'dropuot' (did you mean 'dropout'?); valid: " in \
        got["fixed.dropuot"], got


def test_a_field_given_twice_is_refused_not_silently_overwritten():
    """YAML and JSON parsers keep the last of two equal keys: ``budget`` written twice (a
    paste, a merge) ran with whichever came last. Each repeat is a problem that names the
    field and both lines, all at once; keys equal only as text (1 and '1') differ."""
    text = ("name: twice\ntrainable: tests.helpers:quadratic\nmetric: loss\nmode: min\n"
            "space:\n  x: {uniform: [0, 1], uniform: [0, 2]}\n"
            "budget: {trials: 50}\nfixed: {1: a, '1': b}\nbudget: {trials: 2}\n")
    got = problems(text)
    assert got == {"budget": "given twice (lines 7 and 9); a spec names each field once",
                   "space.x.uniform": "given twice (lines 6 and 6); a spec names each field "
                                      "once"}, got
    as_json = '{"name": "j", "space": {"x": {"uniform": [0, 1]}}, "name": "k", "budget": {}}'
    assert problems(as_json) == {"name": "given twice (lines 1 and 1); a spec names each "
                                         "field once"}
    assert specmod.parse_text("a: {b: 1}\nc: {b: 2}\nd: [{b: 1}, {b: 2}]") == {
        "a": {"b": 1}, "c": {"b": 2}, "d": [{"b": 1}, {"b": 2}]}  # the same key, elsewhere


@pytest.mark.parametrize("change, field, words", [
    ({"colour": "red"}, "colour", "unknown field"),
    ({"budget": {"trials": 0}}, "budget.trials", "greater than 0"),
    ({"budget": {"trials": "ten"}}, "budget.trials", "'ten'"),
    ({"space": {}}, "space", "at least one"),
    ({"space": {"x": {"uniform": [3, 1]}}}, "space.x.uniform", "[3, 1]"),
    ({"space": {"x": {"loguniform": [-1, 1]}}}, "space.x.loguniform", "low=-1"),
    ({"trainable": "resnet"}, "trainable", "unknown trainable 'resnet'"),
    ({"searcher": {"type": "annealing"}}, "searcher.type", "valid: " + ", ".join(searchers.names())),
    ({"scheduler": {"type": "asha", "grace": 1}}, "scheduler.grace", "unknown option"),
    ({"scheduler": {"type": "warp"}}, "scheduler.type", "unknown scheduler"),
    ({"mode": "maximise"}, "mode", "'maximise'"),
    ({"searcher": {"type": "grid"}}, "space", "at least one {grid"),
    ({"fixed": {"seed": 3}}, "fixed.seed", "reserved"),
])
def test_each_problem_names_field_and_value(change, field, words):
    raw = {**quad_spec("bad"), **change}
    got = problems(raw)
    assert field in got, got
    assert words in got[field] or words in field


def test_several_problems_reported_together():
    raw = {**quad_spec("bad"), "budget": {"trials": -1}, "extra": 1}
    got = problems(raw)
    assert {"budget.trials", "extra"} <= set(got)


def test_malformed_yaml_and_python_tags_refused():
    assert "not valid YAML" in problems("name: [unclosed\n")["spec"]
    assert "spec" in problems("!!python/object/apply:os.system ['echo pwned']\n")
    assert "mapping" in problems("- just\n- a list\n")["spec"]


def test_metric_the_trainable_never_reports(monkeypatch):
    import trainables
    monkeypatch.setattr(trainables, "_registered", {})
    trainables.register("probe", lambda c: None, metrics=("loss",), metric="loss", mode="min")
    raw = {**quad_spec("m"), "trainable": "probe", "metric": "accuracy"}
    assert "never reports 'accuracy'" in problems(raw)["metric"]


def test_module_function_only_when_allowed():
    with pytest.raises(SpecError) as e:
        specmod.load(quad_spec("imp"), allow_import=False)
    assert "not allowed" in str(e.value)


def test_grid_cap():
    raw = {**quad_spec("g"), "space": {f"p{i}": {"grid": list(range(10))} for i in range(5)}}
    assert "cap" in problems(raw)["space"]


def test_custom_resources_are_names_a_node_can_declare_in_amounts_ray_gives():
    ok = specmod.load(quad_spec("gpu-model", resources={"cpu": 1, "custom": {"A100": 1, "fast_disk": 0.5}}))
    assert ok.resources.ray_request() == {"cpu": 1.0, "gpu": 0.0, "A100": 1.0, "fast_disk": 0.5}
    got = problems(quad_spec("bad", resources={"custom": {"GPU": 1, "A100": 1.5, "a b": 1,
                                                          "node:10.0.0.1": 1, "gpu_memory_gb": 8,
                                                          "V100": -2}}))
    msg = got["resources.custom"]
    for part in ("'GPU' is one of Ray's own", "A100: 1.5 is not an amount", "'a b' is not a resource name",
                 "'node:10.0.0.1' is one of Ray's own", "declare GPU memory as resources.gpu_memory_gb",
                 "V100: -2"):
        assert part in msg, part


def test_text_that_is_not_unicode_is_a_field_error_not_a_crash():
    # JSON's "\ud800" escape decodes to a lone surrogate, which pydantic, the store and a
    # terminal cannot encode: found by the mangled-spec property test (UnicodeEncodeError).
    import json

    from hpsearch.exceptions import SpecError
    from hpsearch.spec import parse_text, validate

    raw = {"name": "ok", "trainable": "cnn", "dataset": "digits", "metric": "val_accuracy",
           "space": {"lr\udc00": {"uniform": [0, 1]}, "dropout": {"choice": ["\ud800"]}}}
    for spec in (raw, parse_text(json.dumps(raw))):
        with pytest.raises(SpecError) as err:
            validate(spec, allow_import=False)
        fields = [f for f, _ in err.value.problems]
        assert fields == ["space", "space.dropout.choice[0]"], err.value.problems
        str(err.value).encode("utf-8")  # the message itself prints
