"""Trained models over HTTP: export a trial's model (a zip with its model card).

The web process imports neither torch nor onnx: an export runs ``hpsearch
export`` in a child process (the same code as the CLI) and the folder it
writes is sent back as a zip. One export at a time per web process; a second
concurrent request is answered 429.
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import threading
import zipfile
from pathlib import Path

from typing import Literal

from flask import Blueprint, request, send_file
from pydantic import BaseModel

from webui import queries
from webui.apidoc import operation
from webui.errors import error_response

bp = Blueprint("models", __name__)
bp.url_value_preprocessor(queries.check_url_ids)

FORMATS = ("torchscript", "onnx", "state_dict")  # hpsearch.export.FORMATS, without importing it
EXPORT_TIMEOUT_S = 300
_exporting = threading.Lock()


class ExportRequest(BaseModel):
    format: Literal["torchscript", "onnx", "state_dict"] = "torchscript"


@operation(bp, "POST", "/studies/<int:study_id>/trials/<int:number>/export",
           summary="Export a trial's model with its model card (a zip: model file, "
                   "model_card.json, model_card.md)", response=None, body=ExportRequest,
           content={"application/zip": {"schema": {"type": "string", "format": "binary"}}},
           errors=(400, 404, 422, 429, 500, 504))
def export_trial(study_id: int, number: int):
    """Export trial ``number`` as ``format`` (form field or JSON); answers a zip."""
    body = request.get_json(silent=True) if request.is_json else request.form
    fmt = (body or {}).get("format", "torchscript")
    if fmt not in FORMATS:
        return error_response(400, f"format: unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    st = queries.store()
    study = st.get_study(study_id)
    st.get_trial(study_id, number)  # 404 for a trial that does not exist
    if not _exporting.acquire(blocking=False):
        return error_response(429, "another export is running in this web process; try again "
                                   "in a minute")
    try:
        with tempfile.TemporaryDirectory(prefix="hpsearch-export-") as tmp:
            out = Path(tmp) / "model"
            env = {**os.environ, "HPSEARCH_DB": st.url}  # not on the command line (ps shows argv)
            cmd = [sys.executable, "-m", "hpsearch.cli", "export", str(study_id), "--trial", str(number),
                   "--format", fmt, "--out", str(out)]
            try:
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                                      timeout=EXPORT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                return error_response(504, f"the export took longer than {EXPORT_TIMEOUT_S} s")
            if proc.returncode != 0:
                message = "; ".join(line.removeprefix("error: ") for line in proc.stderr.splitlines()
                                    if line.startswith("error: ")) or "the export failed"
                return error_response(422 if proc.returncode == 2 else 500, message)
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for path in sorted(out.iterdir()):
                    z.write(path, path.name)
            buf.seek(0)
    finally:
        _exporting.release()
    name = f"{_safe(study.name)}-trial{number}-{fmt}.zip"
    return send_file(buf, mimetype="application/zip", as_attachment=True, download_name=name)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80] or "study"
