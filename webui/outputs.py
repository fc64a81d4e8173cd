"""What a trial printed and drew: its log (live tail, download) and its media, as JSON and files.

Logs and media metadata come from SQL, media files from the shared media folder
(hpsearch/media.py), so every web replica answers the same. Media files are the
PNGs and plotly JSON the service re-encoded, never the bytes a trial sent, and
go out with a fixed content type, ``nosniff`` and a CSP that runs nothing.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request, url_for

from hpsearch.exceptions import NotFoundError
from hpsearch.media import CONTENT_TYPES, resolve
from hpsearch.store import outputs
from webui import queries
from webui.errors import BadParam

bp = Blueprint("outputs", __name__)
bp.url_value_preprocessor(queries.check_url_ids)

LAST_LINES = 40
# A media file is a PNG or plotly JSON drawn by this app's own scripts: nothing in it runs.
MEDIA_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


def _trial(study_id: int, number: int):
    """The trial row (404 for an unknown study or trial)."""
    st = queries.store()
    st.get_study(study_id)  # 404 for an unknown study first
    return st.get_trial(study_id, number)


def _after(args) -> int:
    raw = args.get("after", "0")
    if not raw.isdigit() or len(raw) > 18:
        raise BadParam(f"after must be a whole number of characters >= 0, got {raw!r}")
    return int(raw)


def media_dict(study_id: int, number: int, m) -> dict:
    return {"id": m.id, "name": m.name, "step": m.step, "kind": m.kind, "bytes": m.bytes,
            "width": m.width, "height": m.height, "trial": number,
            "url": url_for("outputs.media_file", study_id=study_id, number=number, media_id=m.id)}


@bp.app_template_global()
def trial_outputs(study_id: int, number: int) -> dict:
    """For the trial page: the log's last lines, whether it is live, the media count."""
    t = _trial(study_id, number)
    log = outputs.trial_log(queries.store(), t.id)
    return {"last_lines": log.last_lines(LAST_LINES), "printed": log.total,
            "live": t.status in outputs.LIVE, "media": len(outputs.trial_media(queries.store(), t.id))}


@bp.get("/api/v1/studies/<int:study_id>/trials/<int:number>/log")
def log_json(study_id: int, number: int):
    """The trial's log after position ``after`` (0: all of it), for a live tail."""
    after = _after(request.args)
    queries.store().get_study(study_id)
    return jsonify(outputs.log_page(queries.store(), study_id, number, after))


@bp.get("/studies/<int:study_id>/trials/<int:number>/log.txt")
def log_download(study_id: int, number: int):
    t = _trial(study_id, number)
    log = outputs.trial_log(queries.store(), t.id)
    resp = current_app.response_class(log.text(), mimetype="text/plain")
    resp.headers["Content-Disposition"] = (f'attachment; filename="study-{study_id}-trial-'
                                           f'{number}.log"')
    return resp


@bp.get("/api/v1/studies/<int:study_id>/trials/<int:number>/media")
def media_list(study_id: int, number: int):
    """The trial's media (name, step, kind, file URL), by name then step."""
    t = _trial(study_id, number)
    items = [media_dict(study_id, number, m) for m in outputs.trial_media(queries.store(), t.id)]
    return jsonify({"study_id": study_id, "number": number, "media": items,
                    "steps": sorted({m["step"] for m in items})})


@bp.get("/api/v1/studies/<int:study_id>/compare/media")
def compare_media(study_id: int):
    """The media of chosen trials (``?trials=1,2``), for side by side views at one step."""
    row = queries.store().get_study(study_id)
    numbers = queries.trial_numbers(request.args)
    st = queries.store()
    by_id = {st.get_trial(row.id, n).id: n for n in numbers}
    items = [media_dict(study_id, by_id[m.trial_id], m)
             for m in outputs.media_of_trials(st, list(by_id))]
    return jsonify({"study_id": study_id, "trials": numbers, "media": items,
                    "names": sorted({m["name"] for m in items}),
                    "steps": sorted({m["step"] for m in items})})


@bp.get("/api/v1/studies/<int:study_id>/trials/<int:number>/media/<int:media_id>")
def media_file(study_id: int, number: int, media_id: int):
    t = _trial(study_id, number)
    if media_id > queries.MAX_ID:
        raise NotFoundError(f"no media {media_id}")
    m = outputs.media_item(queries.store(), t.id, media_id)
    try:
        data = resolve(m.path).read_bytes()
    except (OSError, ValueError):
        raise NotFoundError(f"media {media_id} has no file (the media folder is not shared with "
                            "this web server, or it was removed)") from None
    ext = m.path.rsplit(".", 1)[-1]
    resp = current_app.response_class(data, mimetype=CONTENT_TYPES.get(ext, "application/octet-stream"))
    resp.headers["Content-Security-Policy"] = MEDIA_CSP
    resp.headers["Content-Disposition"] = f'inline; filename="media-{m.id}.{ext}"'
    resp.headers["Cache-Control"] = "private, max-age=60"
    return resp


_NUM = {"name": "number", "in": "path", "required": True, "schema": {"type": "integer"}}
_SID = {"name": "study_id", "in": "path", "required": True, "schema": {"type": "integer"}}


def _ok(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}


def openapi_paths() -> dict:
    """This blueprint's part of the OpenAPI document (webui/openapi.py merges it)."""
    base = "/studies/{study_id}/trials/{number}"
    return {
        f"{base}/log": {"get": {
            "summary": "A trial's log (stdout, stderr, logging) after position `after`: poll with "
                       "the returned `end` for a live tail; `cut` characters were dropped "
                       "between its head and tail",
            "parameters": [_SID, _NUM, {"name": "after", "in": "query", "required": False,
                                        "schema": {"type": "integer", "minimum": 0}}],
            "responses": {"200": _ok("text, end, total, cut, status, live"),
                          "400": _ok("bad after"), "404": _ok("unknown study or trial")}}},
        f"{base}/media": {"get": {
            "summary": "A trial's media (images, plotly figures) by name and step",
            "parameters": [_SID, _NUM],
            "responses": {"200": _ok("media and steps"), "404": _ok("unknown study or trial")}}},
        f"{base}/media/{{media_id}}": {"get": {
            "summary": "One media file: image/png, or application/json (a plotly figure)",
            "parameters": [_SID, _NUM, {"name": "media_id", "in": "path", "required": True,
                                        "schema": {"type": "integer"}}],
            "responses": {"200": {"description": "the file", "content": {
                "image/png": {}, "application/json": {}}}, "404": _ok("unknown media")}}},
        "/studies/{study_id}/compare/media": {"get": {
            "summary": "The media of chosen trials (`trials=1,2`), to show side by side",
            "parameters": [_SID, {"name": "trials", "in": "query", "required": True,
                                  "schema": {"type": "string"}}],
            "responses": {"200": _ok("media of each trial"), "400": _ok("bad trials"),
                          "404": _ok("unknown study or trial")}}},
    }
