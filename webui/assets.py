"""Static files cached by content hash, and compressed responses.

* ``url_for('static', filename=...)`` gets ``?v=<content hash>``: a response to a
  URL with the current hash is cached for a year (``immutable``); a new file
  gets a new URL, so nobody keeps a stale one.
* Text responses (pages, JSON, scripts, styles) are gzipped for clients that
  accept it. Static files are compressed once per content hash and kept; a served app
  compresses the plotly.js bundles at start, off the first chart page's path.
* ``plotly_script(kind)`` in templates names the plotly.js bundle a page loads
  (``webui/plotly_bundle.py``: the small cartesian one where installed, else the strict one).
"""
from __future__ import annotations

import gzip
import hashlib
import logging
import threading
from pathlib import Path

from flask import Flask, Response, current_app, request

from webui import plotly_bundle

log = logging.getLogger(__name__)

YEAR = 365 * 24 * 3600
MIN_SIZE = 500            # smaller bodies are not worth the header
COMPRESSIBLE = ("text/", "application/json", "application/javascript", "image/svg+xml")


class Assets:
    """Content hashes of the static files and their gzipped bodies, computed once each."""

    def __init__(self, folder: str):
        self.folder = Path(folder)
        self._hashes: dict[str, tuple[float, str]] = {}
        self._gzipped: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def path(self, filename: str) -> Path | None:
        p = (self.folder / filename).resolve()
        return p if p.is_file() and self.folder.resolve() in p.parents else None

    def version(self, filename: str) -> str | None:
        p = self.path(filename)
        if p is None:
            return None
        mtime = p.stat().st_mtime
        with self._lock:
            hit = self._hashes.get(filename)
            if hit and hit[0] == mtime:
                return hit[1]
        digest = hashlib.sha256(p.read_bytes()).hexdigest()[:12]
        with self._lock:
            self._hashes[filename] = (mtime, digest)
        return digest

    def gzipped(self, filename: str) -> bytes | None:
        version = self.version(filename)
        if version is None:
            return None
        key = f"{filename}?{version}"
        with self._lock:
            body = self._gzipped.get(key)
        if body is None:
            body = gzip.compress(self.path(filename).read_bytes(), compresslevel=6)
            with self._lock:
                self._gzipped[key] = body
        return body


def _assets() -> Assets:
    return current_app.extensions["hpsearch_assets"]


def _static_version(endpoint: str, values: dict) -> None:
    """url_defaults: every static URL carries its file's content hash."""
    if endpoint == "static" and "v" not in values and "filename" in values:
        version = _assets().version(values["filename"])
        if version:
            values["v"] = version


def _accepts_gzip() -> bool:
    return "gzip" in request.headers.get("Accept-Encoding", "").lower()


def _after(resp: Response) -> Response:
    if request.endpoint == "static" or request.endpoint == "pages.plotly_js":
        filename = (request.view_args or {}).get("filename") or plotly_bundle.STRICT
        version = _assets().version(filename)
        if version and request.args.get("v") == version:
            resp.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
        else:
            resp.headers["Cache-Control"] = "no-cache"  # revalidate (ETag) on every use
        resp.vary.add("Accept-Encoding")
        if resp.status_code == 200 and _accepts_gzip() and resp.mimetype.startswith(COMPRESSIBLE):
            body = _assets().gzipped(filename)
            if body is not None:
                resp.direct_passthrough = False
                resp.set_data(body)
                resp.headers["Content-Encoding"] = "gzip"
        return resp
    if (resp.direct_passthrough or resp.is_streamed or not _accepts_gzip()
            or resp.status_code != 200 or "Content-Encoding" in resp.headers
            or not resp.mimetype.startswith(COMPRESSIBLE)):
        return resp
    data = resp.get_data()
    if len(data) < MIN_SIZE:
        return resp
    resp.set_data(gzip.compress(data, compresslevel=5))
    resp.headers["Content-Encoding"] = "gzip"
    resp.vary.add("Accept-Encoding")
    if resp.get_etag()[0]:  # a strong ETag names the identity body; this one differs
        tag, _ = resp.get_etag()
        resp.set_etag(tag, weak=True)
    return resp


def init_app(app: Flask) -> None:
    assets = app.extensions["hpsearch_assets"] = Assets(app.static_folder)
    app.url_defaults(_static_version)
    app.after_request(_after)
    static = Path(app.static_folder)
    app.jinja_env.globals["plotly_script"] = lambda kind: plotly_bundle.script_for(kind, static)
    if not plotly_bundle.present(static):
        log.warning("%s is not installed (run `make install`): chart pages load the full strict "
                    "plotly.js bundle, whose parse slows their first draw", plotly_bundle.CARTESIAN)
    if not app.testing:
        # Gzip the bundles (1.5 and 5 MB: 0.1-0.3 s of CPU) now, not in the first chart
        # page's request.
        def warm() -> None:
            for name in (plotly_bundle.CARTESIAN, plotly_bundle.STRICT):
                assets.gzipped(name)

        threading.Thread(target=warm, name="hpsearch-assets-gzip", daemon=True).start()
