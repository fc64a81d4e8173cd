"""The JSON API under /api/v1 (documented by /api/v1/openapi.json)."""
from __future__ import annotations

import hashlib
import json

from flask import Blueprint, current_app, jsonify, request, url_for

from hpsearch import plots
from hpsearch.exceptions import SpecError
from webui import manage, queries
from webui.cache import study_version
from webui.errors import BadParam, error_response
from webui.openapi import document
from webui.submit import queue

bp = Blueprint("api", __name__)
bp.url_value_preprocessor(queries.check_url_ids)


@bp.get("/health")
def health():
    queries.store().ping()
    return jsonify({"status": "ok"})


@bp.get("/openapi.json")
def openapi():
    return jsonify(document())


@bp.get("/studies")
def studies():
    return jsonify(queries.list_studies(request.args))


@bp.get("/studies/<int:study_id>")
def study(study_id: int):
    d = queries.study_summary(study_id)
    d["best_trial"] = queries.best_trial(queries.store().get_study(study_id))
    d["dispatchers"] = queries.dispatcher_note(d)
    return jsonify(d)


@bp.patch("/studies/<int:study_id>")
def update(study_id: int):
    """Set a study's notes (Markdown), tags, or archived flag (owner or admin)."""
    queries.store().get_study(study_id)
    manage.apply(study_id, manage.parse_changes(request.get_json(silent=True)))
    return jsonify(queries.study_summary(study_id) | {"notes": queries.store().get_study(study_id).notes})


@bp.delete("/studies/<int:study_id>")
def delete(study_id: int):
    """Delete a finished study with its trials and results (owner or admin)."""
    manage.delete(study_id)
    return jsonify({"id": study_id, "deleted": True})


@bp.patch("/studies/<int:study_id>/trials/<int:number>")
def trial_update(study_id: int, number: int):
    """Set a trial's notes (Markdown)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) != {"notes"}:
        raise BadParam('the body must be {"notes": text or null}')
    queries.store().set_trial_notes(queries.store().get_study(study_id).id, number,
                                    manage.parse_notes(body["notes"]))
    return jsonify(queries.trial_detail(queries.store().get_study(study_id), number,
                                        with_results=False))


@bp.get("/studies/<int:study_id>/results")
def results(study_id: int):
    """Results reported after result id ``after`` (the live page's incremental fetch)."""
    row = queries.store().get_study(study_id)
    after = request.args.get("after")
    after = None if after in (None, "") else queries.int_arg(request.args, "after", 0, 0, 2**63 - 1)
    return jsonify(queries.results_since(row, after))


@bp.get("/studies/<int:study_id>/trials")
def trials(study_id: int):
    return jsonify(queries.list_trials(queries.store().get_study(study_id), request.args))


@bp.get("/studies/<int:study_id>/trials/export")
def trials_export(study_id: int):
    """Every trial under the table's filters and sort, as CSV or JSON (the columns of
    ``Study.to_dataframe()``)."""
    row = queries.store().get_study(study_id)
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


@bp.get("/studies/<int:study_id>/trials/<int:number>")
def trial(study_id: int, number: int):
    return jsonify(queries.trial_detail(queries.store().get_study(study_id), number))


@bp.get("/studies/<int:study_id>/plots/<name>")
def plot(study_id: int, name: str):
    """A chart as plotly JSON, built once per (study version, chart, args) and cached."""
    fn = plots.PLOTS.get(name)
    if fn is None:
        return error_response(404, f"no plot {name!r}; plots: {', '.join(sorted(plots.PLOTS))}")
    st = queries.store()
    st.get_study(study_id)  # 404 before anything else
    options = plot_options(name, request.args)
    key = (study_id, name, tuple(sorted(options.items())), study_version(st, study_id))

    def build() -> str:
        try:
            fig = fn(st, study_id, **options)
        except ValueError as exc:  # a parameter the study lacks
            raise BadParam(str(exc)) from None
        return fig.to_json()

    charts = current_app.extensions["hpsearch_charts"]
    etag = hashlib.sha256(repr(key).encode()).hexdigest()[:32]
    # A browser that holds this very figure (a reload, a live page whose study has not
    # moved) gets a 304; only figures this process built and still holds are vouched for.
    if etag in request.if_none_match and charts.has(key):
        resp = current_app.response_class(status=304)
    else:
        resp = current_app.response_class(charts.get_or_build(key, build), mimetype="application/json")
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


@bp.get("/compare")
def compare_studies():
    """Studies side by side, with their best-so-far curves on one axis."""
    d = queries.compare_studies(request.args)
    fig = plots.compare_history(queries.store(), [s["id"] for s in d["studies"]])
    d["figure"] = json.loads(fig.to_json())
    return jsonify(d)


@bp.get("/studies/<int:study_id>/compare")
def compare_trials(study_id: int):
    """Chosen trials of one study side by side, with their learning curves overlaid."""
    row = queries.store().get_study(study_id)
    numbers = queries.trial_numbers(request.args)
    d = queries.compare_trials(row, numbers)
    d["figure"] = json.loads(plots.compare_trials(queries.store(), study_id, numbers).to_json())
    return jsonify(d)


@bp.post("/studies")
def create():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadParam("the body must be a JSON object: a spec, or {\"spec_yaml\": text}")
    raw = body["spec_yaml"] if set(body) == {"spec_yaml"} else body
    if not isinstance(raw, (str, dict)):
        raise SpecError("spec_yaml must be a string", "spec_yaml")
    key = request.headers.get("Idempotency-Key") or None
    if key is not None and len(key) > 100:
        raise BadParam("Idempotency-Key must be at most 100 characters")
    row = queue(raw, idempotency_key=key)
    d = queries.study_summary(row.id)
    resp = jsonify(d)
    resp.status_code = 201
    resp.headers["Location"] = url_for("api.study", study_id=row.id)
    return resp


@bp.post("/studies/<int:study_id>/cancel")
def cancel(study_id: int):
    status = queries.store().request_cancel(study_id)
    return jsonify({"id": study_id, "status": status,
                    "cancelled": status == "CANCELLED", "cancel_requested": True})
