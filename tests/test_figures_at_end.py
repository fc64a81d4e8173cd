"""A study's page figures are built and stored when its driver ends it: the first view of a
finished study, in a web process that never showed it, draws them without building any."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

import hpsearch
from hpsearch import orchestration, plots
from hpsearch.store import Store, StudyStatus
from hpsearch.store import figures
from hpsearch.store.figures import chart_key, study_version
from hpsearch.store.models import StudyFigureRow
from tests.helpers import quad_spec

pytestmark = pytest.mark.usefixtures("ray_session")


def test_a_study_ends_with_its_page_figures_stored(home, monkeypatch):
    monkeypatch.setenv("HPSEARCH_FIGURES_AT_END", "6")  # its 6 trials are enough (default 1000)
    spec = quad_spec("figures-at-end", space={"x": {"uniform": [-5.0, 5.0]},
                                              "y": {"int": [1, 4]}, "opt": {"choice": ["a", "b"]}})
    study = hpsearch.run(spec, progress=False)
    assert study.status == StudyStatus.COMPLETED
    orchestration.wait_for_figures(120)  # built in a thread after the verdict
    store = Store()
    wanted = plots.page_charts(store.get_study(study.id).spec)
    assert wanted["contour"] == {"params": ("x", "y")}
    with store.engine.connect() as c:  # no page opened yet
        rows = dict(c.execute(select(StudyFigureRow.key, StudyFigureRow.version)
                              .where(StudyFigureRow.study_id == study.id)).all())
    version = repr(study_version(store, study.id))
    assert {chart_key(n, o): version for n, o in wanted.items()}.items() <= rows.items()
    # A smaller study than the setting's is left to its first view.
    figures.forget(store, study.id)
    assert figures.store_study(store, study.id, min_trials=7) == 0
    assert figures.store_study(store, study.id, min_trials=6) == len(wanted)

    from webui import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": store.url})
    html = app.test_client().get(f"/studies/{study.id}").get_data(as_text=True)
    for name in wanted:  # every chart in the page itself, none fetched first
        m = re.search(rf'<script type="application/json" data-plot="chart-{name}">(.*?)</script>',
                      html, re.S)
        assert m and json.loads(m.group(1))["data"], name
        assert f'rel="preload" as="fetch" href="/api/v1/studies/{study.id}/plots/{name}' not in html
