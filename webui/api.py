"""The JSON API under /api/v1 (documented by /api/v1/openapi.json)."""
from __future__ import annotations

import hashlib
import json

from flask import Blueprint, current_app, jsonify, request, url_for

from hpsearch import plots, spec as specmod
from hpsearch.exceptions import SpecError
from hpsearch.store.figures import study_version
from webui import manage, queries, schemas as S
from webui.apidoc import operation, query, reply
from webui.cache import chart_key, stored_figure
from webui.errors import BadParam, error_response
from webui.openapi import document
from webui.submit import queue

bp = Blueprint("api", __name__)
bp.url_value_preprocessor(queries.check_url_ids)


@operation(bp, "GET", "/health", summary="Liveness and database check", response=S.Health,
           public=True)
def health():
    queries.store().ping()
    return reply(S.Health, {"status": "ok"})


@operation(bp, "GET", "/openapi.json", summary="This document", response=None,
           content={"application/json": {"schema": {"type": "object"}}})
def openapi():
    """This document (OpenAPI 3.1, generated from the views' schemas: webui/apidoc.py)."""
    return jsonify(document())


@operation(bp, "GET", "/studies", summary="A page of studies, filtered and sorted",
           response=S.StudyPage, query=S.StudiesQuery, errors=(400,))
def studies():
    query(S.StudiesQuery, request.args)
    return reply(S.StudyPage, queries.list_studies(request.args))


@operation(bp, "GET", "/studies/<int:study_id>", summary="One study with counts and its best trial",
           response=S.StudyDetail, errors=(404,))
def study(study_id: int):
    d = queries.study_summary(study_id)
    d["best_trial"] = queries.best_trial(queries.store().get_study(study_id))
    d["dispatchers"] = queries.dispatcher_note(d)
    return reply(S.StudyDetail, d)


@operation(bp, "PATCH", "/studies/<int:study_id>",
           summary="Set a study's notes (Markdown), tags, or archived flag (owner or admin)",
           response=S.StudyWithNotes, body=S.StudyChanges, errors=(400, 404, 415))
def update(study_id: int):
    """Set a study's notes (Markdown), tags, or archived flag (owner or admin)."""
    queries.store().get_study(study_id)
    manage.apply(study_id, manage.parse_changes(request.get_json(silent=True)))
    return reply(S.StudyWithNotes, queries.study_summary(study_id)
                 | {"notes": queries.store().get_study(study_id).notes})


@operation(bp, "DELETE", "/studies/<int:study_id>",
           summary="Delete a finished study with its trials and results (owner or admin)",
           response=S.Deleted, errors=(404, 409))
def delete(study_id: int):
    """Delete a finished study with its trials and results (owner or admin)."""
    manage.delete(study_id)
    return reply(S.Deleted, {"id": study_id, "deleted": True})


@operation(bp, "PATCH", "/studies/<int:study_id>/trials/<int:number>",
           summary="Set a trial's notes (Markdown)", response=S.TrialDetail, body=S.TrialNotes,
           errors=(400, 404))
def trial_update(study_id: int, number: int):
    """Set a trial's notes (Markdown)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) != {"notes"}:
        raise BadParam('the body must be {"notes": text or null}')
    queries.store().set_trial_notes(queries.store().get_study(study_id).id, number,
                                    manage.parse_notes(body["notes"]))
    return reply(S.TrialDetail, queries.trial_detail(queries.store().get_study(study_id), number,
                                                     with_results=False))


@operation(bp, "GET", "/studies/<int:study_id>/results",
           summary="Results reported after result id `after` (the live page's incremental fetch)",
           response=S.NewResults, query=S.ResultsQuery, errors=(400, 404))
def results(study_id: int):
    """Results reported after result id ``after`` (the live page's incremental fetch)."""
    row = queries.store().get_study(study_id)
    after = query(S.ResultsQuery, request.args).after
    return reply(S.NewResults, queries.results_since(row, after))


@operation(bp, "GET", "/studies/<int:study_id>/trials",
           summary="A page of a study's trials; filter a parameter with param.NAME.min, "
                   "param.NAME.max (numbers) or param.NAME (choices, repeated), and any "
                   "objective or metric with metric.NAME.min, metric.NAME.max or "
                   "where=NAME<=NUMBER",
           response=S.TrialPage, query=S.TrialsQuery, errors=(400, 404))
def trials(study_id: int):
    query(S.TrialsQuery, request.args)
    return reply(S.TrialPage, queries.list_trials(queries.store().get_study(study_id), request.args))


@operation(bp, "GET", "/studies/<int:study_id>/trials/export",
           summary="Every trial under the table's filters and sort, as CSV or JSON (the columns "
                   "of Study.to_dataframe(): number, status, the metric, best_<metric>, "
                   "iterations, duration_s, imported_from, param_NAME; at most 100,000 trials)",
           response=None, query=S.TrialsExportQuery, errors=(400, 404),
           content={"text/csv": {"schema": {"type": "string"}},
                    "application/json": {"schema": {"type": "array",
                                                    "items": {"type": "object"}}}})
def trials_export(study_id: int):
    """Every trial under the table's filters and sort, as CSV or JSON (the columns of
    ``Study.to_dataframe()``)."""
    row = queries.store().get_study(study_id)
    query(S.TrialsExportQuery, request.args)
    fmt = queries.choice_arg(request.args, "format", ("csv", "json")) or "csv"
    rows = queries.export_rows(row, request.args)
    name = f"{row.name}-trials.{fmt}".replace('"', "")
    if fmt == "json":
        resp = jsonify(rows)
    else:
        import csv
        import io

        columns = list(dict.fromkeys(k for r in rows for k in r))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        resp = current_app.response_class(buf.getvalue(), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return resp


@operation(bp, "GET", "/studies/<int:study_id>/trials/<int:number>",
           summary="One trial with its results and status history", response=S.TrialDetail,
           errors=(404,))
def trial(study_id: int, number: int):
    return reply(S.TrialDetail, queries.trial_detail(queries.store().get_study(study_id), number))


@operation(bp, "GET", "/studies/<int:study_id>/plots/<name>",
           summary="A chart as plotly figure JSON (built once per study update, then cached; "
                   "large studies are sampled, and the figure's subtitle says so)",
           response=S.Figure, query=S.PlotQuery, errors=(400, 404),
           path_enums={"name": lambda: sorted(plots.PLOTS)}, extra={"304": {"description": "not modified (If-None-Match)"}})
def plot(study_id: int, name: str):
    """A chart as plotly JSON, built once per (study version, chart, args) and cached."""
    fn = plots.PLOTS.get(name)
    if fn is None:
        return error_response(404, f"no plot {name!r}; plots: {', '.join(sorted(plots.PLOTS))}")
    st = queries.store()
    st.get_study(study_id)  # 404 before anything else
    query(S.PlotQuery, request.args)
    options = plot_options(name, request.args)
    version = study_version(st, study_id)
    key = chart_key(study_id, name, options, version)

    def build() -> str:
        try:
            return fn(st, study_id, **options).to_json()
        except ValueError as exc:  # a parameter the study lacks
            raise BadParam(str(exc)) from None

    def stored_or_build() -> str:
        # A finished study's figure, as stored at its end or first built by any process
        # (hpsearch/store/figures.py).
        return stored_figure(st, study_id, name, options, version, build)

    charts = current_app.extensions["hpsearch_charts"]
    etag = hashlib.sha256(repr(key).encode()).hexdigest()[:32]
    # A browser that holds this very figure (a reload, a live page whose study has not
    # moved) gets a 304; only figures this process built and still holds are vouched for.
    if etag in request.if_none_match and charts.has(key):
        resp = current_app.response_class(status=304)
    else:
        resp = current_app.response_class(charts.get_or_build(key, stored_or_build), mimetype="application/json")
    resp.set_etag(etag)
    resp.headers["Cache-Control"] = "no-cache"  # revalidate every time: the study may move
    return resp


def plot_options(name: str, args) -> dict:
    """The chart's keyword options from the query string (plots.PLOT_OPTIONS)."""
    allowed = plots.PLOT_OPTIONS.get(name, ())
    out: dict = {}
    if "params" in allowed:
        pair = contour_pair(args)
        if pair:
            out["params"] = pair
    if "metric" in allowed and args.get("metric"):
        out["metric"] = args["metric"]
    return out


def contour_pair(args) -> tuple[str, str] | None:
    x, y = args.get("x") or None, args.get("y") or None
    if x is None and y is None:
        return None
    if x is None or y is None:
        raise BadParam("give both x and y (two parameter names) for a contour, or neither")
    if x == y:
        raise BadParam(f"x and y must be two different parameters, got {x!r} twice")
    return (x, y)


@operation(bp, "GET", "/compare",
           summary="Studies side by side: summaries with trials and time to best, their best "
                   "trials, a params diff, best-so-far curves overlaid",
           response=S.StudyComparison, query=S.CompareQuery, errors=(400, 404))
def compare_studies():
    """Studies side by side, with their best-so-far curves on one axis."""
    query(S.CompareQuery, request.args)
    d = queries.compare_studies(request.args)
    fig = plots.compare_history(queries.store(), [s["id"] for s in d["studies"]])
    d["figure"] = json.loads(fig.to_json())
    return reply(S.StudyComparison, d)


@operation(bp, "GET", "/studies/<int:study_id>/compare",
           summary="Chosen trials of one study side by side, learning curves overlaid",
           response=S.TrialComparison, query=S.CompareTrialsQuery, errors=(400, 404))
def compare_trials(study_id: int):
    """Chosen trials of one study side by side, with their learning curves overlaid."""
    row = queries.store().get_study(study_id)
    query(S.CompareTrialsQuery, request.args)
    numbers = queries.trial_numbers(request.args)
    d = queries.compare_trials(row, numbers)
    d["figure"] = json.loads(plots.compare_trials(queries.store(), study_id, numbers).to_json())
    return reply(S.TrialComparison, d)


IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": False,
                   "description": "a retried POST with the same key (of the same user, with the "
                                  "same body) returns the first study; another body is a 422",
                   "schema": {"type": "string", "maxLength": 100}}


@operation(bp, "POST", "/studies", summary="Queue a study from a spec", response=S.Study,
           status=201, body=(S.NewStudy, S.SpecYaml), headers=(IDEMPOTENCY_KEY,),
           errors=(400, 409, 413, 415, 422))
def create():
    body = None
    if request.is_json:  # read here, not by get_json: a field given twice is a problem
        try:
            body = specmod.parse_json(request.get_data(as_text=True))
        except (ValueError, RecursionError):
            body = None
    if not isinstance(body, dict):
        raise BadParam("the body must be a JSON object: a spec, or {\"spec_yaml\": text}")
    raw = body["spec_yaml"] if set(body) == {"spec_yaml"} else body
    if not isinstance(raw, (str, dict)):
        raise SpecError("spec_yaml must be a string", "spec_yaml")
    key = request.headers.get("Idempotency-Key") or None
    if key is not None and len(key) > 100:
        raise BadParam("Idempotency-Key must be at most 100 characters")
    row = queue(raw, idempotency_key=key)
    resp = reply(S.Study, queries.study_summary(row.id), 201)
    resp.headers["Location"] = url_for("api.study", study_id=row.id)
    return resp


@operation(bp, "POST", "/studies/<int:study_id>/cancel",
           summary="Cancel a queued study, or ask a running one to stop", response=S.Cancelled,
           errors=(404, 409))
def cancel(study_id: int):
    status = queries.store().request_cancel(study_id)
    return reply(S.Cancelled, {"id": study_id, "status": status,
                               "cancelled": status == "CANCELLED", "cancel_requested": True})
