"""HTML pages: studies, study, trial, compare (studies or trials), submit; and the bundled plotly.js.

The study page renders fast whatever the study's size: its charts are not
built here but fetched by the browser from the (cached) plots API.
"""
from __future__ import annotations

import json
from typing import Callable
from urllib.parse import urlencode

from flask import (Blueprint, current_app, flash, redirect, render_template, request, send_from_directory,
                   url_for)

from hpsearch import plots
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

from hpsearch.exceptions import ConflictError, SpecError
from webui.errors import public_spec_error
from hpsearch.status import StudyStatus, TrialStatus
from hpsearch.store import queries as reads
from hpsearch.store.figures import study_version
from webui import filters, manage, plotly_bundle, queries
from webui.cache import figures_ready, ready_figures
from webui.errors import BadParam
from webui.submit import located, queue, read_upload, templates

bp = Blueprint("pages", __name__)
bp.url_value_preprocessor(queries.check_url_ids)



def _script_json(text: str) -> Markup:
    """JSON text made safe inside a <script> element: <, > and & (which JSON holds only
    within strings) as \\u escapes, as Jinja's |tojson writes them."""
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
                  .replace("'", "\\u0027"))


def _fig(fig) -> dict:
    # A plain dict: the template writes it with |tojson, which escapes <, > and &.
    return json.loads(fig.to_json())


@bp.get("/vendor/plotly.min.js")
def plotly_js():
    """plotly.js, the strict bundle (no eval: it draws under the pages' CSP); pages load it
    (or the cartesian one) as ``static/vendor/...min.js?v=HASH``, this URL stays for older
    links."""
    return send_from_directory(current_app.static_folder, plotly_bundle.STRICT,
                               mimetype="text/javascript")


def _in_place(read, args):
    """``read(args, clamp=True)``; a bad argument is shown on the page (with what the user
    typed kept in the form) and the page drawn as if the arguments were not given."""
    try:
        return read(args, clamp=True), None
    except BadParam as exc:
        return read(MultiDict(), clamp=True), str(exc)


@bp.get("/")
def studies():
    page, problem = _in_place(queries.list_studies, request.args)
    return render_template("studies.html", page=page, args=request.args,
                           problem=problem), 400 if problem else 200


@bp.get("/studies/<int:study_id>")
def study(study_id: int):
    st = queries.store()
    row = st.get_study(study_id)
    summary = queries.study_summary(study_id)
    trials, problem = _in_place(lambda a, clamp: queries.list_trials(
        row, a, clamp=clamp, counts=summary["counts"]), request.args)
    params = filters.params_of(row)
    pair = plots.contour_pair(row.spec)
    # The charts in page order (the multi-objective ones first for a study with several
    # objectives), each with the options it opens with: the contour's pair goes into its URL,
    # so the page preloads it like the others (app.js asks for the same URL until the user
    # picks another pair). The same list is built and stored when the study ends.
    options = plots.page_charts(row.spec)
    charts = {name: url_for("api.plot", study_id=study_id, name=name,
                            **dict(zip("xy", opts.get("params", ()))))
              for name, opts in options.items()}
    # The figures ready without building (cached here, or stored for a finished study) go
    # into the page itself; the others are fetched (and preloaded) from the plots API.
    embedded = {name: _script_json(body) for name, body in ready_figures(
        st, current_app.extensions["hpsearch_charts"], study_id, options,
        study_version(st, study_id)).items()}
    return render_template("study.html", study=summary, spec=row.spec, best=queries.best_trial(row),
                           trials=trials, charts=charts, embedded=embedded, args=request.args,
                           params=params,
                           pair=pair, statuses=TrialStatus.ALL, problem=problem,
                           dispatchers=queries.dispatcher_note(summary),
                           results_url=url_for("api.results", study_id=study_id),
                           live_statuses=" ".join(StudyStatus.LIVE),
                           metrics=reads.reported_metrics(st, study_id),
                           spec_yaml=manage.spec_yaml(row), notes=row.notes,
                           last_result=queries.results_since(row, None)["last_id"]), 400 if problem else 200



@bp.app_template_global()
def live(status: str) -> bool:
    """A study a driver owns now or will (its page polls): the read model's group."""
    return status in StudyStatus.LIVE


@bp.app_template_global()
def finished(status: str) -> bool:
    return status in StudyStatus.FINISHED


@bp.app_template_filter("markdown")
def markdown_filter(text: str | None):
    """Notes as safe HTML (webui/markdown.py)."""
    from webui.markdown import render

    return render(text)


@bp.app_template_global()
def iso_time(t) -> str:
    """A stored time (naive UTC datetime, or the API's ISO text) as ISO 8601 with Z."""
    if hasattr(t, "isoformat"):
        return t.isoformat(timespec="seconds") + "Z"
    return str(t)


@bp.app_template_global()
def query_with(**changes) -> str:
    """This request's query string with some keys replaced (repeated param.* values kept)."""
    args = request.args.copy()
    for k, v in changes.items():
        args.setlist(k, [] if v is None else [v])
    return "?" + urlencode(list(args.items(multi=True)))


@bp.post("/studies/<int:study_id>/cancel")
def cancel(study_id: int):
    queries.store().request_cancel(study_id)
    return redirect(url_for("pages.study", study_id=study_id), code=303)


# Study management forms: one endpoint, the form's ``action`` picks the change.
MANAGE: dict[str, Callable[[int, dict], str]] = {
    "notes": lambda sid, form: manage.apply(sid, {"notes": manage.parse_notes(form.get("notes"))})
    or "notes saved",
    "tags": lambda sid, form: manage.apply(sid, {"tags": manage.parse_tags(form.get("tags", ""))})
    or "tags saved",
    "archive": lambda sid, form: manage.apply(sid, manage.CHANGES["archived"](True))
    or "archived: hidden from the studies list (restore it from the archive)",
    "restore": lambda sid, form: manage.apply(sid, manage.CHANGES["archived"](False)) or "restored",
}


@bp.post("/studies/<int:study_id>/manage")
def manage_study(study_id: int):
    """Notes, tags, archive and restore from the study page (owner or admin)."""
    action = request.form.get("action", "")
    if action == "delete":
        queries.store().get_study(study_id)
        try:
            manage.delete(study_id)
        except BadParam as exc:
            flash(str(exc), "error")
            return redirect(url_for("pages.study", study_id=study_id), code=303)
        flash(f"study {study_id} deleted with its trials and results", "info")
        return redirect(url_for("pages.studies"), code=303)
    change = MANAGE.get(action)
    if change is None:
        raise BadParam(f"action must be one of {', '.join([*MANAGE, 'delete'])}, got {action!r}")
    queries.store().get_study(study_id)
    try:
        flash(change(study_id, request.form), "info")
    except BadParam as exc:
        flash(str(exc), "error")
    return redirect(url_for("pages.study", study_id=study_id) + "#manage", code=303)


@bp.post("/studies/<int:study_id>/trials/<int:number>/notes")
def trial_notes(study_id: int, number: int):
    try:
        queries.store().set_trial_notes(study_id, number, manage.parse_notes(request.form.get("notes")))
    except BadParam as exc:
        flash(str(exc), "error")
    return redirect(url_for("pages.trial", study_id=study_id, number=number) + "#notes", code=303)


@bp.get("/studies/<int:study_id>/trials/<int:number>")
def trial(study_id: int, number: int):
    st = queries.store()
    row = st.get_study(study_id)
    detail = queries.trial_detail(row, number, with_results=False)
    figures_ready()
    chart = _fig(plots.trial_metrics(st, study_id, number))
    prev, nxt = reads.neighbours(st, study_id, number)
    return render_template("trial.html", study=queries.study_summary(study_id), trial=detail,
                           chart=chart, prev=prev, next=nxt, params=filters.params_of(row))


@bp.get("/studies/<int:study_id>/compare")
def compare_trials(study_id: int):
    st = queries.store()
    row = st.get_study(study_id)
    numbers = queries.trial_numbers(request.args)
    data = queries.compare_trials(row, numbers)
    figures_ready()
    chart = _fig(plots.compare_trials(st, study_id, numbers))
    return render_template("compare_trials.html", study=queries.study_summary(study_id),
                           data=data, chart=chart)


@bp.get("/compare")
def compare():
    data = queries.compare_studies(request.args)
    figures_ready()
    ids = [s["id"] for s in data["studies"]]
    reported = sorted({m for i in ids for m in reads.reported_metrics(queries.store(), i)})
    metric = request.args.get("metric") or None
    if metric is not None and metric not in reported:
        raise BadParam(f"metric must be one the studies report ({', '.join(reported) or 'none yet'}), "
                       f"got {metric!r}")
    chart = _fig(plots.compare_history(queries.store(), ids, metric))
    return render_template("compare.html", studies=data["studies"], bests=data["best_trials"],
                           diff=data["params"], chart=chart, metrics=data["metrics"],
                           metrics_differ=data["metrics_differ"] and metric is None,
                           reported=reported, metric=metric)


@bp.route("/submit", methods=["GET", "POST"])
def submit():
    families = templates()
    text = families.get(request.args.get("template", ""), "")
    if request.args.get("clone", "").isdigit():  # a study's spec, renamed, to edit and queue
        text = manage.clone_text(queries.store().get_study(int(request.args["clone"])))
    if request.method == "GET":
        return render_template("submit.html", families=families, text=text, problems=[])
    text = request.form.get("spec", "")
    try:
        upload = read_upload(request.files.get("spec_file"))
        if upload is not None:
            text = upload
        row = queue(text)
    except SpecError as exc:
        return render_template("submit.html", families=families, text=text,
                               problems=located(text, public_spec_error(exc).problems)), 422
    except ConflictError as exc:  # the name is taken: keep the edited spec, say so beside it
        return render_template("submit.html", families=families, text=text,
                               problems=located(text, [("name", str(exc) + "; pick another name")])), 409
    return redirect(url_for("pages.study", study_id=row.id), code=303)
