"""What a trial printed and drew: its log (live tail, download) and its media, as JSON and files.

Logs and media metadata come from SQL, media files from the shared media folder
(hpsearch/media.py), so every web replica answers the same. Media files are the
PNGs and plotly JSON the service re-encoded, never the bytes a trial sent, and
go out with a fixed content type, ``nosniff`` and a CSP that runs nothing.
"""
from __future__ import annotations

from flask import Blueprint, current_app, request, url_for

from hpsearch.exceptions import NotFoundError
from hpsearch.media import CONTENT_TYPES, resolve
from hpsearch.store import outputs
from webui import queries, schemas as S
from webui.apidoc import operation, query, reply

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


@operation(bp, "GET", "/api/v1/studies/<int:study_id>/trials/<int:number>/log", prefix_strip=True,
           summary="A trial's log (stdout, stderr, logging) after position `after`: poll with the "
                   "returned `end` for a live tail; `cut` characters were dropped between its "
                   "head and tail", response=S.TrialLog, query=S.LogQuery, errors=(400, 404))
def log_json(study_id: int, number: int):
    """The trial's log after position ``after`` (0: all of it), for a live tail."""
    after = query(S.LogQuery, request.args).after
    queries.store().get_study(study_id)
    return reply(S.TrialLog, outputs.log_page(queries.store(), study_id, number, after))


@bp.get("/studies/<int:study_id>/trials/<int:number>/log.txt")
def log_download(study_id: int, number: int):
    t = _trial(study_id, number)
    log = outputs.trial_log(queries.store(), t.id)
    resp = current_app.response_class(log.text(), mimetype="text/plain")
    resp.headers["Content-Disposition"] = (f'attachment; filename="study-{study_id}-trial-'
                                           f'{number}.log"')
    return resp


@operation(bp, "GET", "/api/v1/studies/<int:study_id>/trials/<int:number>/media", prefix_strip=True,
           summary="A trial's media (images, plotly figures) by name and step",
           response=S.TrialMedia, errors=(404,))
def media_list(study_id: int, number: int):
    """The trial's media (name, step, kind, file URL), by name then step."""
    t = _trial(study_id, number)
    items = [media_dict(study_id, number, m) for m in outputs.trial_media(queries.store(), t.id)]
    return reply(S.TrialMedia, {"study_id": study_id, "number": number, "media": items,
                                "steps": sorted({m["step"] for m in items})})


@operation(bp, "GET", "/api/v1/studies/<int:study_id>/compare/media", prefix_strip=True,
           summary="The media of chosen trials (`trials=1,2`), to show side by side",
           response=S.ComparedMedia, query=S.CompareTrialsQuery, errors=(400, 404))
def compare_media(study_id: int):
    """The media of chosen trials (``?trials=1,2``), for side by side views at one step."""
    row = queries.store().get_study(study_id)
    query(S.CompareTrialsQuery, request.args)
    numbers = queries.trial_numbers(request.args)
    st = queries.store()
    by_id = {st.get_trial(row.id, n).id: n for n in numbers}
    items = [media_dict(study_id, by_id[m.trial_id], m)
             for m in outputs.media_of_trials(st, list(by_id))]
    return reply(S.ComparedMedia, {"study_id": study_id, "trials": numbers, "media": items,
                                   "names": sorted({m["name"] for m in items}),
                                   "steps": sorted({m["step"] for m in items})})


@operation(bp, "GET", "/api/v1/studies/<int:study_id>/trials/<int:number>/media/<int:media_id>",
           prefix_strip=True, response=None, errors=(404,),
           summary="One media file: image/png, or application/json (a plotly figure)",
           content={"image/png": {"schema": {"type": "string", "format": "binary"}},
                    "application/json": {"schema": {"type": "object"}}})
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
