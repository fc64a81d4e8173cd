"""The web UI at 100,000 and 1,000,000 trials: each chart cold and warm, the whole study page
drawn in Chromium cold and warm, and every page and API call (issue 16, "Speed").

Data: ``benchmarks/seed.py`` (one big study, six mixed parameters, three metrics per
result; 20 reports a trial at 100,000 trials, 2 at 1,000,000) and, as when a study ends, its
chart frame brought up to date (``Store.refresh_frame``, timed: the work a study's end or
the driver's frame keeper does, not the page). Seeding takes minutes, so the databases are
kept and reused by later runs: SQLite files under ``--cache`` and PostgreSQL databases named
``hpsearch_scale_<trials>`` (``--reseed`` starts them again).

The server is ``hpsearch ui`` (waitress) in a subprocess, started fresh for each group of
cold measurements and warmed on a small study first (imports, plotly's validators): "cold"
is the first time this process draws the big study's chart (charts in page order on one
server: the first one also reads the study's frame from SQL; ``--server-per-chart``: every
chart on a fresh server), "warm" the median of three more requests (the chart cache, or a
304 for the browser). The page in Chromium: from navigation
to every chart's plot drawn (each ``.chart`` holds plotly's ``.main-svg``), in a fresh
browser context (cold) and on reload (warm)::

    .venv/bin/python -m benchmarks.webui_scale               # 100k on SQLite and PostgreSQL, 1M on PostgreSQL
    .venv/bin/python -m benchmarks.webui_scale --runs sqlite:2000 --quick    # a smoke run
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks import _common as C
from benchmarks._db import PG_ADMIN_URL, pg_available
from benchmarks.serving import Server, endpoints
from benchmarks.seed import BIG_NAME, seed

CHART_TARGET_S = 1.0
PAGE_TARGET_S = 3.0
CHROMIUM = Path("/usr/bin/chromium")
GL_ARGS = ["--no-sandbox", "--use-gl=swiftshader", "--enable-unsafe-swiftshader",
           "--ignore-gpu-blocklist", "--disable-background-networking",
           "--disable-component-update", "--no-first-run"]
# 1,000,000 trials on PostgreSQL only: seeding a million trials into SQLite takes far longer
# (one writer), and the figures of the 100,000-trial SQLite study already show its shape.
RUNS = "sqlite:100000,postgresql:100000,postgresql:1000000"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hpsearch-bench"


def _reports(trials: int) -> int:
    return 20 if trials <= 200_000 else 2


def _charts() -> list[str]:
    from hpsearch import plots

    return [n for n in plots.PLOTS if n not in plots.MULTI_OBJECTIVE]


# -- databases, kept between runs ----------------------------------------------------------
def _pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def _pg_recreate(name: str, drop: bool) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        exists = c.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if exists and drop:
            c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
            c.execute(text(f'DROP DATABASE "{name}"'))
            exists = False
        if not exists:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def _seeded(url: str, trials: int) -> int | None:
    """The big study's id when ``url`` already holds it with all its trials."""
    from sqlalchemy import create_engine, func, select
    from hpsearch.store.models import Study, Trial

    engine = create_engine(url)
    try:
        with engine.connect() as c:
            sid = c.scalar(select(Study.id).where(Study.name == BIG_NAME))
            if sid is None:
                return None
            n = c.scalar(select(func.count()).select_from(Trial).where(Trial.study_id == sid))
            return sid if n == trials else None
    except Exception:  # noqa: BLE001 - no schema yet: not seeded
        return None
    finally:
        engine.dispose()


def scale_db(backend: str, trials: int, cache: Path, reseed: bool, log=print) -> dict:
    """A database holding the big study of ``trials`` trials (seeded now or kept from before),
    its frame brought up to date as at the study's end."""
    if backend == "postgresql":
        name = f"hpsearch_scale_{trials}"
        url = _pg_url(name)
        if reseed or _seeded(url, trials) is None:
            _pg_recreate(name, drop=True)
    else:
        cache.mkdir(parents=True, exist_ok=True)
        path = cache / f"scale-{trials}.db"
        url = f"sqlite:///{path}"
        if reseed or _seeded(url, trials) is None:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
    seed_s = None
    sid = _seeded(url, trials)
    if sid is None:
        log(f"  {backend}: seeding {trials:,} trials x {_reports(trials)} reports (kept for later runs)")
        out = seed(url, trials=trials, reports=_reports(trials), studies=100, small_trials=5)
        sid, seed_s = out["study_id"], out["seconds"]
    from hpsearch.store import Store, frames

    store = Store(url, upgrade=True)  # a database kept from before the latest migration
    if backend == "postgresql":
        # Planner statistics and the visibility map, as autovacuum makes them some time after
        # a bulk load (PostgreSQL 13+ vacuums a table after many inserts): right after
        # seeding, without statistics, the study page at 1,000,000 trials took ~2 s (0.2 s),
        # and without the visibility map a count of a study's trials reads the table, not
        # just its index. The test server here runs with autovacuum off, so it is done here.
        from sqlalchemy import text

        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
    with store.engine.begin() as c:  # a full build, as the study's end makes when none is kept
        c.execute(frames.StudyFrameRow.__table__.delete()
                  .where(frames.StudyFrameRow.__table__.c.study_id == sid))
    forget_figures(url, sid)
    started = time.perf_counter()
    store.refresh_frame(sid)
    frame_s = time.perf_counter() - started
    store.dispose()
    return {"url": url, "study_id": sid, "seed_s": seed_s, "frame_s": frame_s,
            "figures_s": store_at_end(url, sid)}


def store_at_end(url: str, sid: int, fresh: bool = True) -> float:
    """What the study's driver does once it has ended the study: build and store the page's
    figures (``figures.store_study``; ``fresh``: all of them, any stored ones dropped first),
    in a process that has built none yet; its seconds."""
    from hpsearch.store import Store, figures

    store = Store(url)
    if fresh:
        figures.forget(store, sid)
    started = time.perf_counter()
    figures.store_study(store, sid)
    took = time.perf_counter() - started
    store.dispose()
    return took


def forget_figures(url: str, sid: int) -> None:
    """Drop the study's stored figures (hpsearch/store/figures.py): the next server process
    builds its charts from the frame, as the first one ever to show the study does."""
    from hpsearch.store import Store, figures

    store = Store(url)
    figures.forget(store, sid)
    store.dispose()


# -- HTTP ------------------------------------------------------------------------------------
def _get(port: int, path: str) -> tuple[int, int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        start = time.perf_counter()
        conn.request("GET", path)
        resp = conn.getresponse()
        size = len(resp.read())
        return resp.status, size, time.perf_counter() - start
    finally:
        conn.close()


def _warm_server(port: int, small_id: int) -> None:
    """Imports, plotly's validators and scikit-learn, on a small study: what a server that has
    been up a while has done (the big study stays cold)."""
    for name in ("history", "importance", "slice", "parallel", "contour", "timeline"):
        _get(port, f"/api/v1/studies/{small_id}/plots/{name}")


def _small_study(url: str) -> int:
    from sqlalchemy import create_engine, select
    from hpsearch.store.models import Study

    engine = create_engine(url)
    with engine.connect() as c:
        sid = c.scalar(select(Study.id).where(Study.name != BIG_NAME).order_by(Study.id).limit(1))
    engine.dispose()
    return sid


def chart_times(url: str, sid: int, workdir: Path, log=print, per_chart: bool = False) -> list[dict]:
    """Each chart's first request on a fresh (warmed) server, then three more. One server for
    all charts, in page order (the first one reads the study's frame from SQL, as a page's
    first chart does), or with ``per_chart`` a fresh server for each (each pays that read).
    Twice: with no stored figures ('built': the first process to show a study whose figures
    were not stored at its end builds and stores them), then on another fresh server
    ('stored': what every process does for a study that ended with its figures stored)."""
    small = _small_study(url)
    forget_figures(url, sid)
    rows = {name: {"chart": name} for name in _charts()}
    for mode in ("built", "stored"):
        server = None
        for name in _charts():
            if server is None:
                server = Server(url, workdir / f"ui-{name}.log")
                _warm_server(server.port, small)
            try:
                path = f"/api/v1/studies/{sid}/plots/{name}"
                status, size, cold = _get(server.port, path)
                warm = C.median([_get(server.port, path)[2] for _ in range(3)])
            finally:
                if per_chart:
                    server.close()
                    server = None
            row = rows[name]
            row.update({"status": row.get("status", status) if status == 200 else status,
                        "bytes": size, "warm": warm,
                        ("cold" if mode == "built" else "cold_stored"): cold})
            log(f"    chart {name:11s} {mode:6s} {size / 1024:6.0f} KiB  cold {cold:6.2f} s  "
                f"warm {warm:6.3f} s" + ("" if status == 200 else f"  STATUS {status}"))
        if server is not None:
            server.close()
    return list(rows.values())


def page_times(url: str, sid: int, trials: int, workdir: Path, log=print) -> list[dict]:
    """Every page and API call of serving.py (charts apart): first request and median of 3."""
    server = Server(url, workdir / "ui-pages.log")
    rows = []
    try:
        _warm_server(server.port, _small_study(url))
        # ...and the trials table's middle page by value, both ways (the farthest from
        # either end, which the back-half reversal cannot shorten).
        mid = max(1, -(-trials // 25) // 2)
        middle = [(f"trials API, page {mid} by {s}", f"/api/v1/studies/{sid}/trials?page={mid}&sort={s}")
                  for s in ("-value", "value")]
        middle.append((f"trials table, page {mid} by -value", f"/studies/{sid}?page={mid}&sort=-value"))
        for label, path in endpoints(sid, trials, studies=100) + middle:
            if "/plots/" in path:
                continue
            status, size, cold = _get(server.port, path)
            warm = C.median([_get(server.port, path)[2] for _ in range(3)])
            rows.append({"endpoint": label, "path": path, "status": status, "bytes": size,
                         "cold": cold, "warm": warm})
            log(f"    {label:40s} cold {cold:6.2f} s  warm {warm:6.3f} s"
                + ("" if status == 200 else f"  STATUS {status}"))
    finally:
        server.close()
    return rows


# -- the whole page in Chromium ----------------------------------------------------------------
ALL_DRAWN = """() => {
  const charts = [...document.querySelectorAll('.chart[data-src]')];
  return charts.length > 0 && charts.every(el => el.querySelector('.main-svg')
                                               || el.classList.contains('chart-error'));
}"""
# The charts that intersect the window as the page opens (scrolled to the top), each drawn.
FIRST_SCREEN_DRAWN = """() => {
  const h = window.innerHeight;
  const charts = [...document.querySelectorAll('.chart[data-src]')].filter(el => {
    const r = el.getBoundingClientRect(); return r.bottom > 0 && r.top < h; });
  return charts.length > 0 && charts.every(el => el.querySelector('.main-svg')
                                               || el.classList.contains('chart-error'));
}"""
FIRST_SCREEN_COUNT = """() => [...document.querySelectorAll('.chart[data-src]')].filter(el => {
  const r = el.getBoundingClientRect(); return r.bottom > 0 && r.top < window.innerHeight; }).length"""


def _page_once(url: str, sid: int, workdir: Path, log=print) -> dict:
    """One fresh server and browser: the study page cold (a fresh context), then warm (a
    reload). For each: the first screen drawn (the charts in the window as the page opens)
    and every chart drawn (the page draws the rest without being scrolled)."""
    from playwright.sync_api import sync_playwright

    server = Server(url, workdir / "ui-browser.log")
    out: dict = {}
    try:
        _warm_server(server.port, _small_study(url))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=GL_ARGS)
            try:
                ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = ctx.new_page()
                for kind in ("cold", "warm"):
                    start = time.perf_counter()
                    if kind == "cold":
                        page.goto(f"http://127.0.0.1:{server.port}/studies/{sid}", wait_until="commit")
                    else:
                        page.reload(wait_until="commit")
                    page.wait_for_function(FIRST_SCREEN_DRAWN, timeout=300_000, polling=50)
                    first = time.perf_counter() - start
                    page.wait_for_function(ALL_DRAWN, timeout=300_000, polling=50)
                    took = time.perf_counter() - start
                    out[kind] = took
                    out[f"{kind}_first"] = first
                    out[f"{kind}_errors"] = page.locator(".chart.chart-error").all_inner_texts()
                out["charts"] = page.locator(".chart[data-src]").count()
                out["first_charts"] = page.evaluate(FIRST_SCREEN_COUNT)
                out["plotly_js"] = page.evaluate(
                    "[...document.scripts].map(s => s.src).find(s => s.includes('plotly')) || ''"
                ).split("/")[-1].split("?")[0]
            finally:
                browser.close()
    finally:
        server.close()
    log(f"    page in Chromium ({out['plotly_js']}): cold first screen ({out['first_charts']} charts) "
        f"{out['cold_first']:.2f} s, every chart ({out['charts']}) {out['cold']:.2f} s; warm "
        f"{out['warm_first']:.2f} / {out['warm']:.2f} s"
        + "".join(f"; {k} errors: {out[k + '_errors']}" for k in ("cold", "warm") if out[k + "_errors"]))
    return out


@contextlib.contextmanager
def _bundle(kind: str):
    """The study page's plotly.js: the installed cartesian bundle as is, or (``strict``) the
    cartesian file moved aside for the while, so that the page falls back to the strict one."""
    from webui import plotly_bundle

    path = plotly_bundle.STATIC / plotly_bundle.CARTESIAN
    if kind == "cartesian" or not path.exists():
        yield
        return
    with tempfile.TemporaryDirectory(prefix="hps-bundle-") as tmp:
        aside = Path(tmp) / path.name
        shutil.move(path, aside)
        try:
            yield
        finally:
            shutil.move(aside, path)


def browser_times(url: str, sid: int, workdir: Path, runs: int = 3,
                  bundles: tuple[str, ...] = ("cartesian",),
                  modes: tuple[str, ...] = ("built", "stored"), log=print) -> dict:
    """``runs`` rounds of ``_page_once`` per plotly.js bundle and server mode, interleaved (so
    that all see the same machine load): per bundle and mode, each figure's runs and median.
    Modes: 'built', no stored figures (the first process to show a study whose figures were
    not stored at its end builds every chart); 'stored', the figures stored as the study's end
    stores them (``store_at_end``, before each run): any view of a study its driver ended."""
    from webui import plotly_bundle

    rounds: dict[str, list[dict]] = {f"{b}, {m}": [] for b in bundles for m in modes}
    for _ in range(runs):
        for b in bundles:
            for m in modes:
                if m == "built":
                    forget_figures(url, sid)
                else:  # as at the study's end (those a 'built' run stored are kept)
                    store_at_end(url, sid, fresh=False)
                with _bundle(b):
                    rounds[f"{b}, {m}"].append(_page_once(url, sid, workdir, log=log))
    out: dict = {"runs": runs, "installed": plotly_bundle.present(), "bundles": {}}
    for b, rs in rounds.items():
        agg = {"plotly_js": rs[-1]["plotly_js"], "charts": rs[-1]["charts"],
               "first_charts": rs[-1]["first_charts"]}
        for key in ("cold", "cold_first", "warm", "warm_first"):
            agg[key] = C.median([r[key] for r in rs])
            agg[f"{key}_all"] = [r[key] for r in rs]
        for kind in ("cold", "warm"):
            agg[f"{kind}_errors"] = sorted({e for r in rs for e in r[f"{kind}_errors"]})
        out["bundles"][b] = agg
    return out


# -- report ---------------------------------------------------------------------------------------
def _v(value: float, target: float) -> str:
    return C.verdict(value, target, False)


def report(results: list[dict], m: dict, notes: str = "") -> str:
    lines = ["# Web UI at scale: charts, the study page in Chromium, pages (issue 16)", "",
             C.machine_line(m), "",
             "Data: `benchmarks/seed.py` (one study of N trials, six mixed parameters; 20 results a "
             "trial at 100,000 trials, 2 at 1,000,000; 100 studies in all). Server: `hpsearch ui` "
             "(waitress) in a subprocess, started fresh for each group of cold figures and warmed on a "
             "small study (imports, plotly's validators), so 'cold' is the first time that process "
             "draws that chart of the big study (the charts in page order on one server: the first, "
             "history, also reads the study's frame from SQL); 'warm' is the median of 3 more requests "
             "(the chart cache). Chromium: "
             "from navigation to every chart's plot drawn, in a fresh browser context (cold) and on "
             "reload (warm). Targets: each chart <= 1 s cold, the whole page <= 3 s cold, pages <= 3 s "
             "at 1,000,000 trials. The machine is shared (2 cores, several other sessions' tests and "
             "benchmarks running): absolute times are noisy.", ""]
    if notes:
        lines += [notes, ""]
    for res in results:
        head = f"## {res['backend']}, {res['trials']:,} trials"
        seeded = (f"seeded in {res['seed_s']:.0f} s" if res.get("seed_s") else "database kept from an "
                  "earlier run")
        made = (f"; its page's figures built and stored in {res['figures_s']:.2f} s (what its "
                "driver does once it has ended the study: hpsearch/store/figures.py store_study)"
                if res.get("figures_s") is not None else "")
        lines += [head, "", f"{seeded}; the study's chart frame built from nothing in "
                  f"{res['frame_s']:.2f} s (the work its end does once; the driver's frame keeper adds "
                  f"only the trials that ended since its last refresh){made}.", ""]
        if res.get("charts"):
            stored = any("cold_stored" in r for r in res["charts"])

            def verdict(r: dict, key: str) -> str:
                return _v(r[key], CHART_TARGET_S) if r["status"] == 200 else f"STATUS {r['status']}"

            head = ["chart", "KiB", "cold s", "warm s", "target: cold <= 1 s"]
            if stored:
                head = ["chart", "KiB", "cold s, built", "cold s, stored", "warm s",
                        "target, built", "target, stored"]
            rows = [[r["chart"], f"{r['bytes'] / 1024:,.0f}", f"{r['cold']:.2f}"]
                    + ([f"{r['cold_stored']:.2f}"] if stored else [])
                    + [f"{r['warm']:.3f}", verdict(r, "cold")]
                    + ([verdict(r, "cold_stored")] if stored else []) for r in res["charts"]]
            lines += ["### Charts (`/api/v1/studies/ID/plots/NAME`)", ""]
            if stored:
                lines += ["'built': the first server process to show a study whose figures were "
                          "not stored at its end (nothing stored: it reads the frame and builds "
                          "each chart, then stores it); 'stored': another fresh process, serving "
                          "the figures stored in SQL (hpsearch/store/figures.py), as every process "
                          "does for a study its driver ended (the figures are stored then).", ""]
            lines += [C.table(head, rows), ""]
        if res.get("browser"):
            lines += _browser_section(res["browser"])
        if res.get("pages"):
            lines += ["### Pages and API calls", "",
                      C.table(["endpoint", "KiB", "cold s", "warm s", "target: cold <= 3 s"],
                              [[r["endpoint"], f"{r['bytes'] / 1024:,.0f}", f"{r['cold']:.2f}",
                                f"{r['warm']:.3f}",
                                _v(r["cold"], PAGE_TARGET_S) if r["status"] == 200
                                else f"STATUS {r['status']}"] for r in res["pages"]]), ""]
    return "\n".join(lines)


def _browser_section(b: dict) -> list[str]:
    rows = []
    for name, agg in b["bundles"].items():
        for kind in ("cold", "warm"):
            errors = len(agg[f"{kind}_errors"]) or ""
            for key, what in ((f"{kind}_first", f"first screen ({agg['first_charts']} charts)"),
                              (kind, f"every chart ({agg['charts']})")):
                runs = agg[f"{key}_all"]
                rows.append([f"{name}: {agg['plotly_js']}", kind, what, f"{agg[key]:.2f}",
                             " / ".join(f"{x:.2f}" for x in runs), errors,
                             _v(agg[key], PAGE_TARGET_S) if key == kind else "for information"])
    return ["### The study page in Chromium", "",
            f"Median of {b['runs']} runs (a fresh server and browser each; bundles and modes "
            "interleaved: 'cartesian' is what `make install` sets up, 1.5 MB; 'strict' the 5 MB "
            "fallback without it; 'built': no stored figures, the server builds every chart, as for "
            "a study whose figures were not stored at its end; 'stored': the figures stored as "
            "the study's driver stores them when it ends the study, so the first view of any "
            "study ended by a driver). "
            "'first screen': the charts in the 1400x1000 window as the page opens, drawn; 'every "
            "chart': all of them drawn (the page draws the ones below the window too, after the "
            "first screen, without being scrolled). The target is for every chart.", "",
            C.table(["plotly.js bundle", "", "drawn", "median s", "runs s", "errors shown",
                     "target: <= 3 s"], rows), ""]


def targets(results: list[dict]) -> list[tuple[str, float | None, str]]:
    out = []
    for res in results:
        where = f"{res['backend']}, {res['trials']:,} trials"
        if res.get("charts"):
            worst = max(res["charts"], key=lambda r: r["cold"])
            out.append((f"slowest chart cold ({worst['chart']}), {where}", worst["cold"],
                        _v(worst["cold"], CHART_TARGET_S)))
            if all("cold_stored" in r for r in res["charts"]):
                worst = max(res["charts"], key=lambda r: r["cold_stored"])
                out.append((f"slowest chart cold, figures stored ({worst['chart']}), {where}",
                            worst["cold_stored"], _v(worst["cold_stored"], CHART_TARGET_S)))
            warm = max(res["charts"], key=lambda r: r["warm"])
            out.append((f"slowest chart warm ({warm['chart']}), {where}", warm["warm"],
                        "for information"))
        bundles = (res.get("browser") or {}).get("bundles") or {}
        picked = [k for k in bundles if k.startswith("cartesian")] or list(bundles)[:1]
        for name in picked:
            b = bundles[name]
            mode = name.partition(", ")[2]
            mode = f", figures {mode}" if mode else ""
            if "cold_first" in b:
                out.append((f"study page, first screen ({b['first_charts']} charts) drawn in "
                            f"Chromium ({b['plotly_js']}), cold{mode}, {where}", b["cold_first"],
                            "for information"))
            for kind in ("cold", "warm"):
                if kind in b:
                    bad = len(b[f"{kind}_errors"])
                    out.append((f"study page, every chart drawn in Chromium ({b['plotly_js']}), "
                                f"{kind}{mode}, {where}", b[kind],
                                _v(b[kind], PAGE_TARGET_S)
                                + (f"; {bad} charts show errors" if bad else "")))
        if res.get("pages"):
            worst = max(res["pages"], key=lambda r: r["cold"])
            out.append((f"slowest page/API cold ({worst['endpoint']}), {where}", worst["cold"],
                        _v(worst["cold"], PAGE_TARGET_S)))
    return out


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default=RUNS,
                        help="backend:trials pairs, comma-separated (PostgreSQL runs are skipped "
                             "when it is not reachable)")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where SQLite databases are kept")
    parser.add_argument("--reseed", action="store_true", help="seed again even if kept")
    parser.add_argument("--no-charts", action="store_true", help="skip the per-chart figures")
    parser.add_argument("--server-per-chart", action="store_true",
                        help="a fresh server for each chart's cold figure (slower to run)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: no page list")
    parser.add_argument("--browser-runs", type=int, default=None,
                        help="cold/warm page loads in Chromium per bundle, the median reported "
                             "(default 3; 1 with --quick)")
    parser.add_argument("--bundles", default="cartesian",
                        help="plotly.js bundles the study page is measured with: cartesian "
                             "(installed by make install), strict (the fallback), or both")
    parser.add_argument("--modes", default="built,stored",
                        help="server modes the study page is measured in: built (no stored "
                             "figures), stored (figures stored as at the study's end)")
    parser.add_argument("--out", type=Path, default=C.RESULTS)
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args(argv)
    m = C.machine()
    results: list[dict] = []
    say = lambda s: print(s, flush=True)  # noqa: E731
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hps-webui-scale-") as tmp:
        for run in args.runs.split(","):
            backend, trials = run.split(":")
            trials = int(trials)
            if backend == "postgresql" and not pg_available():
                say("  PostgreSQL is not reachable: skipped")
                continue
            say(f"== {backend}, {trials:,} trials")
            db = scale_db(backend, trials, args.cache, args.reseed, log=say)
            say(f"  frame built in {db['frame_s']:.2f} s")
            say(f"  page figures built and stored in {db['figures_s']:.2f} s")
            res = {"backend": backend, "trials": trials, "seed_s": db["seed_s"],
                   "frame_s": db["frame_s"], "figures_s": db["figures_s"]}
            work = Path(tmp)
            # At 1,000,000 trials the issue asks for pages; the charts are measured too.
            if not args.no_charts:
                res["charts"] = chart_times(db["url"], db["study_id"], work, log=say,
                                            per_chart=args.server_per_chart)
            if CHROMIUM.exists():
                runs = args.browser_runs or (1 if args.quick else 3)
                res["browser"] = browser_times(db["url"], db["study_id"], work, runs=runs,
                                               bundles=tuple(args.bundles.split(",")),
                                               modes=tuple(args.modes.split(",")), log=say)
            if not args.quick:
                res["pages"] = page_times(db["url"], db["study_id"], trials, work, log=say)
            results.append(res)
            C.write("webui_scale.md", report(results, m), args.out)  # what is done so far
            if args.json:
                args.json.write_text(json.dumps(results, indent=1, default=str))
    C.write("webui_scale.md", report(results, m), args.out)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return results


if __name__ == "__main__":
    main()
