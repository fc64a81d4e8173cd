"""The plotly.js bundles (webui/plotly_bundle.py): the cartesian one is pinned to the plotly.js
of the Python package, holds every trace type the study and compare pages' charts use, runs
no eval, is checked by hash when fetched, and is optional (the strict one stands in)."""
from __future__ import annotations

import io
import re
import shutil
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hpsearch import plots
from tests.webui.test_pareto_page import mo_study  # noqa: F401 - fixture
from webui import plotly_bundle as pb


def _header_version(text: str) -> str:
    return re.search(r"plotly\.js[^\n]* v(\d+\.\d+\.\d+)", text[:300]).group(1)


def test_pinned_version_is_the_python_packages_plotly_js():
    import plotly

    shipped = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert pb.VERSION == _header_version(shipped.read_text(errors="replace")[:300])
    strict = (pb.STATIC / pb.STRICT).read_text(errors="replace")[:300]
    assert _header_version(strict) == pb.VERSION
    assert pb.tarball_url() == (f"https://registry.npmjs.org/plotly.js-cartesian-dist-min/-/"
                                f"plotly.js-cartesian-dist-min-{pb.VERSION}.tgz")


def _types(fig) -> set[str]:
    return {t.type or "scatter" for t in fig.data}


def test_every_chart_of_the_cartesian_pages_uses_only_its_trace_types(store, filled, mo_study):  # noqa: F811
    """The study page's charts (single and multi-objective) and compare's: a trace type the
    bundle lacks would be left out silently by plotly.js, so this is where it is caught."""
    used: dict[str, set[str]] = {}
    for name, build in plots.PLOTS.items():
        sid = mo_study if name in plots.MULTI_OBJECTIVE else filled["done"]
        used[name] = _types(build(store, sid))
    used["compare"] = _types(plots.compare_history(store, [filled["done"], mo_study]))
    outside = {name: types - pb.CARTESIAN_TRACES for name, types in used.items()
               if types - pb.CARTESIAN_TRACES}
    assert outside == {}
    assert set().union(*used.values()) >= {"scatter", "bar", "contour"}


@pytest.mark.skipif(not pb.present(), reason="cartesian bundle not installed (make install)")
def test_installed_cartesian_bundle_is_the_pinned_file_and_runs_no_eval():
    import hashlib

    body = (pb.STATIC / pb.CARTESIAN).read_bytes()
    assert hashlib.sha256(body).hexdigest() == pb.FILE_SHA256
    text = body.decode()
    assert "new Function" not in text and not re.search(r"[^\w.$]eval\(", text)
    # The one Function( call: function-bind's polyfill, used only without a native bind.
    calls = [m.start() for m in re.finditer(r"[^\w.$]Function\(", text)]
    assert len(calls) == 1 and text[calls[0] + 1:].startswith('Function("binder"')
    assert re.search(r"Function\.prototype\.bind\|\|\w+", text)


def test_pages_fall_back_to_the_strict_bundle_without_the_cartesian_one(tmp_path):
    assert pb.script_for("cartesian", tmp_path) == pb.STRICT
    assert pb.script_for("strict", tmp_path) == pb.STRICT
    (tmp_path / "vendor").mkdir()
    (tmp_path / pb.CARTESIAN).write_text("/* plotly */")
    assert pb.script_for("cartesian", tmp_path) == pb.CARTESIAN
    assert pb.script_for("strict", tmp_path) == pb.STRICT


@pytest.fixture
def registry():
    """A local npm registry that serves ``served["body"]`` for every tarball."""
    served = {"body": b"", "paths": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            served["paths"].append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(served["body"])))
            self.end_headers()
            self.wfile.write(served["body"])

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    served["url"] = f"http://127.0.0.1:{server.server_port}"
    yield served
    server.shutdown()
    server.server_close()


def _tarball(member: str, body: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(member)
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def test_fetch_refuses_a_tarball_whose_hash_is_not_the_pinned_one(registry, tmp_path, capsys):
    registry["body"] = _tarball(pb.MEMBER, b"/* not plotly */")
    dest = tmp_path / "vendor" / "plotly-cartesian.min.js"
    with pytest.raises(RuntimeError, match="SHA-256 .* is not the pinned " + pb.TARBALL_SHA256):
        pb.fetch(dest, registry["url"])
    assert registry["paths"] == [f"/plotly.js-cartesian-dist-min/-/plotly.js-cartesian-dist-min-{pb.VERSION}.tgz"]
    assert not dest.exists() and not dest.parent.exists()
    # The install step says so and goes on (the pages fall back to the strict bundle).
    assert pb.main(["--registry", registry["url"], "--dest", str(dest)]) == 1
    err = capsys.readouterr().err
    assert "warning:" in err and "strict plotly.js bundle" in err and not dest.exists()


def test_fetch_says_which_url_failed_when_the_registry_is_unreachable(tmp_path):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(RuntimeError, match="could not download " + re.escape(url)):
        pb.fetch(tmp_path / "b.js", url, timeout=5)


@pytest.mark.skipif(not pb.present(), reason="cartesian bundle not installed (make install)")
def test_fetch_keeps_a_file_already_in_place(registry, tmp_path):
    dest = tmp_path / "plotly-cartesian.min.js"
    shutil.copy(pb.STATIC / pb.CARTESIAN, dest)
    assert pb.fetch(dest, registry["url"]) == dest
    assert registry["paths"] == []  # nothing downloaded
