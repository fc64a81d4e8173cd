"""Deployments over HTTP: declare, list, undeploy, and predict through the hpsearch API.

The web process never imports Ray or torch. A prediction is checked here (the
caller's role, the body's type, shape and size) and forwarded as a float32
batch to Ray Serve's HTTP proxy on loopback (``HPSEARCH_SERVE_URL``), where the
dispatcher's serving host runs the model (hpsearch/serving.py). Viewers may
predict; members declare deployments and undeploy their own; admins any.
Each answer is counted per deployment (``hpsearch_predictions_total``,
``hpsearch_prediction_seconds`` on /metrics; request rate and latency on the
deployments page and in ``GET /api/v1/deployments``).
"""
from __future__ import annotations

import io
import json
import threading
import time
import urllib.error
import urllib.request
from collections import deque

import numpy as np
from flask import Blueprint, current_app, render_template, request

from hpsearch import deployments as dep
from hpsearch.exceptions import SpecError
from hpsearch.status import DeploymentStatus
from hpsearch.store.models import Role
from webui import queries
from webui import schemas as S
from webui.apidoc import operation, reply
from webui.errors import error_response

bp = Blueprint("deployments", __name__)
pages = Blueprint("deployment_pages", __name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
WINDOW_S = 60.0
FORWARD_TIMEOUT_S = 30.0


class PredictionStats:
    """Per-deployment request counts and latencies of this web process (a Prometheus collector)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts: dict[tuple[str, str], int] = {}
        self.hist: dict[str, list] = {}        # name -> [bucket counts..., count, sum]
        self.recent: dict[str, deque] = {}     # name -> (time, seconds) of the last requests

    def observe(self, name: str, code: int, seconds: float) -> None:
        with self.lock:
            key = (name, str(code))
            self.counts[key] = self.counts.get(key, 0) + 1
            h = self.hist.setdefault(name, [0] * len(LATENCY_BUCKETS) + [0, 0.0])
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    h[i] += 1
            h[-2] += 1
            h[-1] += seconds
            self.recent.setdefault(name, deque(maxlen=2000)).append((time.time(), seconds))

    def summary(self, name: str) -> dict:
        """Requests per second over the last minute and the latency percentiles (ms) of them."""
        now = time.time()
        with self.lock:
            window = [s for t, s in self.recent.get(name, ()) if now - t <= WINDOW_S]
            total = sum(n for (d, _), n in self.counts.items() if d == name)
        if not window:
            return {"requests": total, "rate_per_s": 0.0, "p50_ms": None, "p99_ms": None}
        ms = np.asarray(window) * 1000
        return {"requests": total, "rate_per_s": round(len(window) / WINDOW_S, 3),
                "p50_ms": round(float(np.percentile(ms, 50)), 2),
                "p99_ms": round(float(np.percentile(ms, 99)), 2)}

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        with self.lock:
            counts, hist = dict(self.counts), {k: list(v) for k, v in self.hist.items()}
        c = CounterMetricFamily("hpsearch_predictions", "Prediction requests per deployment and "
                                "HTTP status (this web process)", labels=["deployment", "code"])
        for (name, code), n in sorted(counts.items()):
            c.add_metric([name, code], n)
        yield c
        h = HistogramMetricFamily("hpsearch_prediction_seconds", "Prediction latency through the "
                                  "API, per deployment (this web process)", labels=["deployment"])
        for name, v in sorted(hist.items()):
            buckets = [(str(b), v[i]) for i, b in enumerate(LATENCY_BUCKETS)] + [("+Inf", v[-2])]
            h.add_metric([name], buckets, sum_value=v[-1])
        yield h


def stats() -> PredictionStats:
    ext = current_app.extensions
    if "hpsearch_predictions" not in ext:
        ext["hpsearch_predictions"] = PredictionStats()
    return ext["hpsearch_predictions"]


def _who():
    from webui.auth import principal

    return principal()


def _with_stats(row) -> dict:
    return {**dep.to_dict(row), "traffic": stats().summary(row.name)}


@operation(bp, "GET", "/deployments", summary="Deployments with their request rate and latency",
           response=S.DeploymentList)
def list_deployments():
    return reply(S.DeploymentList, {"items": [_with_stats(r) for r in dep.all_(queries.store())]})


@operation(bp, "POST", "/deployments", summary="Serve a trial's model on Ray Serve (member)",
           response=S.Deployment, status=201, body=S.NewDeployment, errors=(400, 404, 409, 415, 422))
def create_deployment():
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error_response(400, "the body must be a JSON object: {study, trial, name, "
                                   "replicas | autoscale}")
    unknown = sorted(set(body) - {"study", "trial", "name", "replicas", "autoscale"})
    if unknown:
        raise SpecError([(k, "unknown field") for k in unknown])
    if "study" not in body:
        raise SpecError("required field is missing", "study")
    who = _who()
    row = dep.declare(queries.store(), body["study"], body.get("trial", "best"), name=body.get("name"),
                      replicas=body.get("replicas"), autoscale=body.get("autoscale"),
                      created_by=who.username if who else None)
    return reply(S.Deployment, dep.to_dict(row), 201)


@operation(bp, "GET", "/deployments/<name>", summary="One deployment", response=S.DeploymentWithTraffic,
           errors=(404,))
def get_deployment(name: str):
    return reply(S.DeploymentWithTraffic, _with_stats(dep.get(queries.store(), name)))


@operation(bp, "DELETE", "/deployments/<name>", summary="Undeploy (its creator or an admin)",
           response=S.Deployment, status=202, errors=(404,))
def delete_deployment(name: str):
    st = queries.store()
    row = dep.get(st, name)
    who = _who()
    if who is not None and not who.has(Role.ADMIN) and row.created_by != who.username:
        return error_response(403, f"deployment {name!r} belongs to {row.created_by or 'nobody'!r}; "
                                   "only its creator or an admin may undeploy it")
    return reply(S.Deployment, dep.to_dict(dep.request_stop(st, name)), 202)


@operation(bp, "POST", "/deployments/<name>/predict", response=S.Prediction, body=S.PredictInputs,
           summary="Predict: JSON {inputs: [...]} or an .npz body (array X)",
           body_content={"application/x-npz": {}}, errors=(400, 404, 413, 415, 502, 503))
def predict(name: str):
    started = time.perf_counter()
    resp = _predict(name)
    stats().observe(name, resp.status_code, time.perf_counter() - started)
    return resp


def _predict(name: str):
    try:
        row = dep.get(queries.store(), name)
    except Exception as exc:  # NotFoundError: answered (and counted) as a 404
        return error_response(404, str(exc))
    if row.status != DeploymentStatus.RUNNING or not row.card:
        return error_response(503, f"deployment {name!r} is {row.status}"
                                   + (f": {row.error}" if row.error else "; try again shortly"))
    shape = tuple(row.card["data"]["input_shape"])
    try:
        x = _read_inputs(shape)
    except _BadInput as exc:
        return error_response(exc.status, str(exc))
    req = urllib.request.Request(f"{dep.serve_url()}/{name}", data=x.tobytes(), method="POST",
                                 headers={"Content-Type": "application/octet-stream",
                                          "X-Shape": json.dumps(list(x.shape))})
    try:
        with urllib.request.urlopen(req, timeout=FORWARD_TIMEOUT_S) as r:
            out_shape = json.loads(r.headers["x-shape"])
            out = np.frombuffer(r.read(), dtype=np.float32).reshape(out_shape)
    except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
        return error_response(502, f"the model server did not answer for {name!r}: "
                                   f"{getattr(exc, 'reason', exc)}")
    body = {"deployment": name, "study": row.study_name, "trial": row.trial_number,
            "outputs": out.tolist()}
    if row.card["data"].get("task") == "classify":
        body["predictions"] = out.argmax(axis=1).tolist()
    return reply(S.Prediction, body)


class _BadInput(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _read_inputs(shape: tuple[int, ...]) -> np.ndarray:
    """The request's inputs as float32 (N, *shape): JSON ``{"inputs": [...]}`` (or a bare array),
    or an .npz body (array ``X``, else its only array)."""
    ctype = (request.mimetype or "").lower()
    if ctype in ("application/json", ""):
        body = request.get_json(silent=True)
        if body is None:
            raise _BadInput("the body must be JSON {\"inputs\": [...]} or an .npz file "
                            "(Content-Type: application/x-npz)")
        data = body.get("inputs") if isinstance(body, dict) else body
        if data is None:
            raise _BadInput("inputs: required field is missing")
        try:
            x = np.asarray(data)
        except ValueError:
            raise _BadInput("inputs: must be a rectangular array of numbers (rows of equal "
                            "length)") from None
    elif ctype in ("application/x-npz", "application/octet-stream", "application/zip"):
        try:
            with np.load(io.BytesIO(request.get_data()), allow_pickle=False) as f:
                if not f.files:
                    raise _BadInput("inputs: the .npz file holds no array")
                key = "X" if "X" in f.files else f.files[0]
                if len(f.files) > 1 and "X" not in f.files:
                    raise _BadInput(f"inputs: the .npz holds {', '.join(f.files)}; name the "
                                    "array X")
                x = f[key]
        except _BadInput:
            raise
        except Exception as exc:  # noqa: BLE001 - not a zip, object arrays (pickles)...
            raise _BadInput(f"inputs: cannot read the body as .npz ({exc.__class__.__name__})") \
                from None
    else:
        raise _BadInput(f"unsupported Content-Type {ctype!r}; send application/json or "
                        "application/x-npz", 415)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) \
            or x.dtype.kind == "c":
        raise _BadInput(f"inputs: must be real numbers, got {x.dtype.name if x.dtype != object else 'mixed or ragged values'}")
    if x.shape == shape:
        x = x[None]
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        want = ", ".join(str(d) for d in shape)
        raise _BadInput(f"inputs: expected shape (N, {want}) or ({want}) for one sample, "
                        f"got {tuple(x.shape)}")
    if len(x) == 0:
        raise _BadInput("inputs: no samples")
    if len(x) > dep.MAX_ROWS:
        raise _BadInput(f"inputs: at most {dep.MAX_ROWS} samples per request, got {len(x)}", 413)
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise _BadInput("inputs: NaN or infinite values")
    return np.ascontiguousarray(x)


@pages.post("/studies/<int:study_id>/trials/<int:number>/deploy")
def deploy_trial(study_id: int, number: int):
    """The trial page's Deploy form: declare, then show the deployments page."""
    from flask import redirect, url_for

    form = request.form
    autoscale = (form.get("autoscale") or "").strip() or None
    replicas = None if autoscale else (form.get("replicas") or "1").strip()
    who = _who()
    dep.declare(queries.store(), study_id, number, name=(form.get("name") or "").strip() or None,
                replicas=replicas, autoscale=autoscale, created_by=who.username if who else None)
    return redirect(url_for("deployment_pages.deployments_page"), code=303)


@pages.get("/deployments")
def deployments_page():
    rows = [_with_stats(r) for r in dep.all_(queries.store())]
    return render_template("deployments.html", deployments=rows)
