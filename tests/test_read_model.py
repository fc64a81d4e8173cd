"""One read model: every surface names the same best trial and the same counts.

A warm-started, a failed and a running study, written through the store the way a
driver writes them (writer ops, ``import_trials``), on SQLite and PostgreSQL. The
CLI (``list``, ``show``), the Python API, the JSON API (one study, the list, compare),
the study page, the compare page and the history chart must agree. Imported
(warm-start) trials are never the best and never count as done (docs/architecture.md).
"""
from __future__ import annotations

import re
import time

import pytest

import hpsearch
from hpsearch import plots
from hpsearch.cli import main as cli
from hpsearch.status import StudyStatus, TrialStatus
from hpsearch.store import Store
from tests.webui.conftest import CsrfClient, make_spec


def _trials(store: Store, study_id: int, rows: list[tuple[str, float | None]]) -> None:
    """Trials ``(status, value)`` numbered from the study's next number, as a driver writes them."""
    t = time.time()
    start = store.next_trial_number(study_id)
    ops: list[tuple] = []
    for i, (status, value) in enumerate(rows):
        rid = f"r{study_id}-{start + i}"
        params = {"lr": 1e-3 * (i + 1), "dropout": 0.05 * i, "optimizer": "adam"}
        ops.append(("trial", study_id, rid, start + i, params, TrialStatus.RUNNING, t))
        if value is not None:
            ops.append(("result", study_id, rid, 1, value, {"val_accuracy": value}, t))
        if status == TrialStatus.ERROR:
            ops.append(("status", study_id, rid, status, {"error": "RuntimeError: boom"}, t))
        elif status != TrialStatus.RUNNING:
            ops.append(("status", study_id, rid, status, {"value": value, "best_value": value}, t))
    store.apply(ops)


@pytest.fixture
def studies(db_url):
    """Returns (store, {name: (expected best number or None, expected counts)})."""
    store = Store(db_url)
    src = store.create_study(make_spec("source"), status=StudyStatus.RUNNING)
    _trials(store, src.id, [(TrialStatus.COMPLETED, 0.99), (TrialStatus.COMPLETED, 0.3)])
    store.set_study_status(src.id, StudyStatus.COMPLETED)

    # Warm-started: imports 0.99 and 0.3 (better than anything it ran), then runs its own.
    warm = store.create_study(make_spec("warm", warm_start=["source"]), status=StudyStatus.RUNNING)
    store.import_trials(warm.id, [{"params": p, "value": v, "source": n}
                                  for n, p, v in store.finished_trials(["source"])])
    _trials(store, warm.id, [(TrialStatus.COMPLETED, 0.5), (TrialStatus.EARLY_STOPPED, 0.7),
                             (TrialStatus.ERROR, None), (TrialStatus.COMPLETED, 0.7)])
    store.set_study_status(warm.id, StudyStatus.COMPLETED)

    failed = store.create_study(make_spec("failed"), status=StudyStatus.RUNNING)
    _trials(store, failed.id, [(TrialStatus.ERROR, None), (TrialStatus.ERROR, 0.4)])
    store.set_study_status(failed.id, StudyStatus.FAILED, error="every trial failed")

    running = store.create_study(make_spec("running"), status=StudyStatus.RUNNING)
    _trials(store, running.id, [(TrialStatus.COMPLETED, 0.6), (TrialStatus.RUNNING, 0.9),
                                (TrialStatus.COMPLETED, 0.8), (TrialStatus.RUNNING, None)])
    expected = {
        # best trial number, trials done, trials total, imported
        "warm": (3, 4, 6, 2),      # 0.7 at numbers 3 and 5: the lower number wins a tie
        "failed": (None, 2, 2, 0),
        "running": (2, 2, 4, 0),   # the RUNNING trial's 0.9 is not a final value
    }
    yield store, expected
    store.dispose()


def _value(store: Store, name: str, number: int | None) -> float | None:
    return None if number is None else store.get_trial(store.get_study(name).id, number).value


def test_every_surface_names_the_same_best_trial_and_counts(studies, db_url, capsys):
    store, expected = studies
    ids = {name: store.get_study(name).id for name in expected}

    from webui import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": db_url})
    app.test_client_class = CsrfClient
    client = app.test_client()

    listing = {s["name"]: s for s in client.get("/api/v1/studies").get_json()["items"]}
    compare = client.get("/api/v1/compare?ids=" + ",".join(str(ids[n]) for n in expected)).get_json()
    compare_page = client.get("/compare?ids=" + ",".join(str(ids[n]) for n in expected)).text
    assert cli(["list", "--db", db_url]) == 0
    cli_list = {line.split()[1]: line.split() for line in capsys.readouterr().out.splitlines()[2:]}

    for i, (name, (best_number, done, total, imported)) in enumerate(expected.items()):
        best_value = _value(store, name, best_number)
        # Python API
        study = hpsearch.load_study(name, db=db_url)
        assert (study.best_trial.number if study.best_trial else None) == best_number, name
        assert study.best_value == best_value, name
        assert (study.counts.done, study.counts.total, study.counts.imported) == (done, total, imported)
        # JSON API: one study (its summary and its best trial agree), the list, compare
        one = client.get(f"/api/v1/studies/{ids[name]}").get_json()
        assert one["best_value"] == best_value, (name, one)
        assert (one["best_trial"]["number"] if one["best_trial"] else None) == best_number, name
        if best_number is not None:
            assert one["best_trial"]["value"] == best_value
        assert (one["trials_done"], one["trials_total"], one["trials_imported"]) == (done, total, imported)
        assert listing[name]["best_value"] == best_value
        assert listing[name]["trials_done"] == done and listing[name]["trials_total"] == total
        assert compare["studies"][i]["best_value"] == best_value
        assert compare["studies"][i]["trials_done"] == done
        assert (compare["best_trials"][i]["number"] if compare["best_trials"][i] else None) == best_number
        # CLI: `list` (best and done/budget) and `show` (header and the starred row)
        row = cli_list[name]
        assert row[7] == ("-" if best_value is None else f"{best_value:.4g}"), row
        assert row[8] == f"{done}/8", row
        assert cli(["show", name, "--db", db_url]) == 0
        out = capsys.readouterr().out
        assert f"{total} trials, {done} done" in out
        assert (f", {imported} imported" in out) == bool(imported)
        starred = [ln for ln in out.splitlines() if ln.startswith("*")]
        if best_number is None:
            assert not starred and "best" not in out.splitlines()[0]
        else:
            assert starred[0].split()[1] == str(best_number)
            assert f"best val_accuracy={best_value:.4g} (trial {best_number})" in out
        # the study page: summary and best-trial card
        page = client.get(f"/studies/{ids[name]}").text
        shown = re.search(r'data-field="best_value">([^<]*)<', page).group(1)
        assert shown == ("—" if best_value is None else f"{best_value:.4g}") or \
            (best_value is not None and float(shown) == pytest.approx(best_value, rel=1e-3)), shown
        assert f'data-field="trials_done">{done}<' in page
        card = page.split('id="best"', 1)[1].split("</div>", 1)[0]
        if best_number is None:
            assert "no finished trial yet" in card
        else:
            assert f">trial {best_number}</a>" in card
        # the history chart's best-so-far ends at the best value
        fig = plots.optimization_history(store, ids[name])
        lines = [t for t in fig.data if t.mode == "lines"]
        if best_number is None:
            assert not lines
        else:
            assert lines[-1].y[-1] == pytest.approx(best_value)
    # the compare page lists the same best trials
    row = re.search(r"<td>best trial</td>(.*?)</tr>", compare_page, re.S).group(1)
    assert re.findall(r"<td>([^<]*)</td>", row) == [
        "—" if b is None else str(b) for b, *_ in expected.values()]


def test_imported_trials_are_listed_but_never_scored(studies):
    store, _ = studies
    warm = hpsearch.load_study("warm", db=store.url)
    imported = [t for t in warm.trials if t.status == TrialStatus.IMPORTED]
    assert sorted(t.value for t in imported) == [0.3, 0.99]
    assert warm.best_value == 0.7 and warm.counts.by_status[TrialStatus.IMPORTED] == 2
    assert not TrialStatus.IMPORTED.is_scored() and TrialStatus.IMPORTED.is_finished()
