"""HTML pages: studies, study, trial, compare, submit; and the bundled plotly.js."""
from __future__ import annotations

import json
from importlib import resources

from flask import Blueprint, redirect, render_template, request, send_file, url_for

from hpsearch import plots
from hpsearch.exceptions import SpecError
from webui import queries
from webui.submit import queue, templates

bp = Blueprint("pages", __name__)

STUDY_CHARTS = ["history", "curves", "parallel", "importance", "slice", "contour"]


def _fig(fig) -> dict:
    # A plain dict: the template writes it with |tojson, which escapes <, > and &.
    return json.loads(fig.to_json())


@bp.get("/vendor/plotly.min.js")
def plotly_js():
    path = resources.files("plotly") / "package_data" / "plotly.min.js"
    return send_file(str(path), mimetype="text/javascript", max_age=86400)


@bp.get("/")
def studies():
    page = queries.list_studies(request.args)
    return render_template("studies.html", page=page, args=request.args)


@bp.get("/studies/<int:study_id>")
def study(study_id: int):
    st = queries.store()
    row = st.get_study(study_id)
    summary = queries.study_summary(study_id)
    trials = queries.list_trials(row, request.args)
    charts = {name: _fig(plots.PLOTS[name](st, study_id)) for name in STUDY_CHARTS}
    return render_template("study.html", study=summary, spec=row.spec, best=queries.best_trial(row),
                           trials=trials, charts=charts, args=request.args,
                           statuses=queries.TrialStatus.ALL)


@bp.post("/studies/<int:study_id>/cancel")
def cancel(study_id: int):
    queries.store().request_cancel(study_id)
    return redirect(url_for("pages.study", study_id=study_id), code=303)


@bp.get("/studies/<int:study_id>/trials/<int:number>")
def trial(study_id: int, number: int):
    st = queries.store()
    row = st.get_study(study_id)
    detail = queries.trial_detail(row, number, with_results=False)
    chart = _fig(plots.trial_metrics(st, study_id, number))
    return render_template("trial.html", study=queries.study_summary(study_id), trial=detail,
                           chart=chart)


@bp.get("/compare")
def compare():
    ids = queries.ids_arg(request.args.get("ids"), lo=1, hi=10)
    st = queries.store()
    rows = [st.get_study(i) for i in ids]
    summaries = [queries.study_summary(i) for i in ids]
    bests = [queries.best_trial(r) for r in rows]
    keys = sorted({k for b in bests if b for k in b["params"]})
    diff = []
    for k in keys:
        values = [b["params"].get(k) if b else None for b in bests]
        diff.append({"param": k, "values": values,
                     "differs": len({json.dumps(v, sort_keys=True) for v in values}) > 1})
    chart = _fig(plots.compare_history(st, ids))
    return render_template("compare.html", studies=summaries, bests=bests, diff=diff, chart=chart)


@bp.route("/submit", methods=["GET", "POST"])
def submit():
    families = templates()
    text = families.get(request.args.get("template", ""), "")
    if request.method == "GET":
        return render_template("submit.html", families=families, text=text, problems=[])
    text = request.form.get("spec", "")
    try:
        row = queue(text)
    except SpecError as exc:
        return render_template("submit.html", families=families, text=text,
                               problems=exc.problems), 422
    return redirect(url_for("pages.study", study_id=row.id), code=303)
