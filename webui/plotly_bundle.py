"""The plotly.js bundles the pages load, and the install step that fetches the small one.

* ``vendor/plotly-strict.min.js`` (committed, 5 MB): every trace type, built without
  ``eval``/``new Function`` so it draws under the pages' CSP. Pages that may draw a trial's
  own plotly figures (any trace type) load it.
* ``vendor/plotly-cartesian.min.js`` (1.5 MB, git-ignored): plotly.js's prebuilt cartesian
  bundle (npm ``plotly.js-cartesian-dist-min``), fetched by ``make install``
  (``python -m webui.plotly_bundle``) from the npm registry's tarball, pinned to the
  plotly.js of the ``plotly`` Python package and checked by SHA-256. Pages whose charts are
  all this app's own (the study page, compare studies) load it: parsing it takes about a
  third of the time of the full bundle. Those charts use only CARTESIAN_TRACES (a test
  builds every chart and checks). It holds no ``eval``/``new Function`` call either (the
  one ``Function(`` in it is a ``Function.prototype.bind`` polyfill that browsers never
  reach); the browser tests draw every chart under the CSP.

Where the cartesian file is absent (a checkout without ``make install``, no registry), the
pages load the strict bundle instead and the app logs that once: slower, never broken.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import logging
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
STRICT = "vendor/plotly-strict.min.js"
CARTESIAN = "vendor/plotly-cartesian.min.js"

# npm: plotly.js-cartesian-dist-min. The version is the plotly.js that the pinned plotly
# Python package bundles (plotly/package_data/plotly.min.js; a test keeps them equal).
VERSION = "4.1.1"
PACKAGE = "plotly.js-cartesian-dist-min"
MEMBER = "package/plotly-cartesian.min.js"
TARBALL_SHA256 = "c5f9a84666b97e571a04de689e09319869e60900e265c89eac2f71d0b5a0de88"
FILE_SHA256 = "79542150855a52c567260e3137095dbe2b744e6d702a5cabe67da246942fba7a"
REGISTRY = "https://registry.npmjs.org"
# The trace types the cartesian bundle registers (its README): every chart of the pages
# that load it must stay within these, or plotly.js would silently leave its traces out.
CARTESIAN_TRACES = frozenset({"bar", "box", "contour", "heatmap", "histogram", "histogram2d",
                              "histogram2dcontour", "image", "pie", "scatter",
                              "scatterternary", "violin"})


def tarball_url(registry: str = REGISTRY) -> str:
    return f"{registry.rstrip('/')}/{PACKAGE}/-/{PACKAGE}-{VERSION}.tgz"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def present(static: Path = STATIC) -> bool:
    """The cartesian bundle is in place (its hash was checked when it was fetched)."""
    p = static / CARTESIAN
    return p.is_file() and p.stat().st_size > 0


def script_for(kind: str, static: Path = STATIC) -> str:
    """The static file a page of ``kind`` loads: ``"cartesian"`` (only this app's charts)
    gets the small bundle when it is installed, anything else the strict one."""
    return CARTESIAN if kind == "cartesian" and present(static) else STRICT


def fetch(dest: Path | None = None, registry: str = REGISTRY, timeout: float = 60) -> Path:
    """Download the pinned tarball, check it, and write the bundle (atomically) to ``dest``.
    A file already there with the right hash is kept. Raises ``RuntimeError`` on a network
    failure or a hash mismatch (nothing is written then)."""
    dest = dest or STATIC / CARTESIAN
    if dest.is_file() and _sha256(dest.read_bytes()) == FILE_SHA256:
        dest.touch()  # newer than this file: make sees it up to date
        return dest
    url = tarball_url(registry)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - fixed https URL
            data = resp.read()
    except OSError as exc:
        raise RuntimeError(f"could not download {url}: {exc}") from exc
    if _sha256(data) != TARBALL_SHA256:
        raise RuntimeError(f"{url}: SHA-256 {_sha256(data)} is not the pinned {TARBALL_SHA256}")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        member = tar.extractfile(MEMBER)
        if member is None:
            raise RuntimeError(f"{url}: no {MEMBER} in the tarball")
        body = member.read()
    if _sha256(body) != FILE_SHA256:
        raise RuntimeError(f"{url}: {MEMBER} has SHA-256 {_sha256(body)}, not the pinned {FILE_SHA256}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    tmp.write_bytes(body)
    os.replace(tmp, dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch plotly.js's cartesian bundle for the web UI "
                                                 "(pinned version, SHA-256 checked).")
    parser.add_argument("--registry", default=os.environ.get("npm_config_registry") or REGISTRY,
                        help="npm registry to fetch from (default: $npm_config_registry or %(default)s)")
    parser.add_argument("--dest", type=Path, default=STATIC / CARTESIAN)
    args = parser.parse_args(argv)
    try:
        path = fetch(args.dest, args.registry)
    except RuntimeError as exc:
        print(f"warning: {exc}\n  the web UI will load the full strict plotly.js bundle instead "
              "(slower first draw of the study page); run `make install` again to retry",
              file=sys.stderr)
        return 1
    print(f"plotly.js {VERSION} cartesian bundle: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
