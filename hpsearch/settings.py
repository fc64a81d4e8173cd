"""Every ``HPSEARCH_*`` environment variable: its default, its meaning, and one reader.

The environment is read into a frozen :class:`Settings` by :func:`settings`; no
other module reads an ``HPSEARCH_*`` variable (a test checks the code and
docs/configuration.md against :data:`VARIABLES`). The object is rebuilt only when
one of these variables changes, so a process reads its configuration once while
tests may still set variables per test. A value that cannot be used raises
:class:`~hpsearch.exceptions.ConfigError` naming the variable.

Standard library only: trial workers (hpsearch/trial.py) import it.

>>> settings().heartbeat_s   # doctest: +SKIP
5.0
"""
from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from hpsearch.exceptions import ConfigError, nearest


@dataclass(frozen=True)
class Variable:
    """One documented variable. ``group``: who sets it (user, service, internal, development)."""

    name: str
    default: str
    meaning: str
    group: str = "user"


VARIABLES: tuple[Variable, ...] = (
    Variable("HPSEARCH_HOME", "~/.hpsearch",
             "Folder for the embedded SQLite database, experiment state, journals, init sources "
             "and the default data root."),
    Variable("HPSEARCH_DB", "sqlite:///$HPSEARCH_HOME/hpsearch.db",
             "Database URL (`--db` wins). `postgresql://user@host/db` uses the installed "
             "driver (psycopg2). Never passed to trials."),
    Variable("HPSEARCH_SERVER", "(config file `server`)",
             "URL of an hpsearch service for `submit`, `cancel` and `hpsearch.submit`."),
    Variable("HPSEARCH_TOKEN", "(config file `token`)",
             "API token sent as a Bearer token to the service. Never passed to trials."),
    Variable("HPSEARCH_RAY_ADDRESS", "(a local Ray per driver)",
             "Ray cluster the drivers run trials on (`--ray-address` wins): the head's "
             "`HOST:PORT`, `ray://HOST:PORT`, `auto` or `local`. Checked before joining: not a "
             "Ray head there is an error at once, not a wait (docs/deployment.md, \"The Ray "
             "address\")."),
    Variable("HPSEARCH_DATA_ROOTS", "$HPSEARCH_HOME/data",
             "Folders (separated by `os.pathsep`) that dataset paths in specs from the web UI "
             "or the API must lie in."),
    Variable("HPSEARCH_ALLOWED_MODULES", "(none)",
             "Comma-separated modules whose own `@hpsearch.trainable` functions a spec from "
             "the network may name as `module:function`."),
    Variable("HPSEARCH_ALLOWED_TRAINABLES", "(none)",
             "Comma-separated exact `module:function` pairs a spec from the network may name."),
    Variable("HPSEARCH_MEDIA_DIR", "$HPSEARCH_HOME/media",
             "Folder of the images and figures trials record; shared by every web replica and "
             "driver."),
    Variable("HPSEARCH_MEDIA_MAX_ITEMS", "48", "Media items a trial may record at most."),
    Variable("HPSEARCH_MEDIA_MAX_BYTES", "4194304", "Bytes of media a trial may record at most."),
    Variable("HPSEARCH_MEDIA_EVERY", "5",
             "The built-in families record media at their first and last epoch and every "
             "N-th between."),
    Variable("HPSEARCH_TRIAL_LOG_MAX_CHARS", "200000",
             "Characters of a trial's log kept (a quarter from its start, the rest from its "
             "end); at least 1000."),
    Variable("HPSEARCH_FIGURES_AT_END", "1000",
             "A study that ends with at least this many trials has its web page's figures built "
             "and stored by its driver, so its first view draws them at once; a smaller one's "
             "build at first view, in well under a second (and its driver does not import "
             "plotly and scikit-learn for them). 0: every study's."),
    Variable("HPSEARCH_CACHE_DIR", "~/.cache/hpsearch",
             "Cache of the GAN's Fréchet-distance feature network."),
    Variable("HPSEARCH_SECRET_KEY", "(none)",
             "Session signing key of the web service (32+ characters); required when "
             "authentication is on. Never passed to trials.", "service"),
    Variable("HPSEARCH_SECRET_KEY_FILE", "(none)",
             "File holding the session key (wins over HPSEARCH_SECRET_KEY).", "service"),
    Variable("HPSEARCH_TRUSTED_PROXIES", "0",
             "Number of reverse proxies in front of the web service (0-10) whose "
             "X-Forwarded-For is trusted.", "service"),
    Variable("HPSEARCH_COOKIE_SECURE", "false",
             "`true`: session cookies only over HTTPS.", "service"),
    Variable("HPSEARCH_METRICS_DIR", "(none)",
             "Folder where drivers write Prometheus metrics files that `/metrics` reads "
             "(set by `hpsearch serve` and the dispatcher).", "service"),
    Variable("HPSEARCH_TRIAL_USER", "(none)",
             "OS user trials run as in served mode (the trial boundary, docs/security.md).",
             "service"),
    Variable("HPSEARCH_SINGLE_USER", "false",
             "`1`: the operator says one person uses the service, so members' studies run "
             "without a trial user.", "service"),
    Variable("HPSEARCH_SERVE_HOST", "127.0.0.1", "Host of Ray Serve's HTTP proxy (deployments).",
             "service"),
    Variable("HPSEARCH_SERVE_PORT", "8000", "Port of Ray Serve's HTTP proxy (deployments).",
             "service"),
    Variable("HPSEARCH_SERVE_URL", "http://$HPSEARCH_SERVE_HOST:$HPSEARCH_SERVE_PORT",
             "Where the web service forwards checked prediction requests.", "service"),
    Variable("HPSEARCH_SERVING_STALE_S", "60",
             "Seconds without a heartbeat from the serving host (deployments) after which its "
             "dispatcher kills it and starts a fresh one; a new host has at least 180 s for its "
             "first (starting Ray and Serve).", "service"),
    Variable("HPSEARCH_SERVE_CALL_TIMEOUT_S", "20",
             "Seconds the serving host waits for Ray Serve's controller to answer a status or "
             "delete call before it gives up on that pass (logged) and tries again at the next; "
             "after 3 such passes in a row it exits and its dispatcher starts a fresh one.",
             "service"),
    Variable("HPSEARCH_HEARTBEAT_S", "5",
             "Seconds between a driver's trial heartbeats.", "service"),
    Variable("HPSEARCH_TRIAL_GRACE_S", "120",
             "Seconds without a heartbeat after which a dispatcher reaps a trial as "
             "INTERRUPTED.", "service"),
    Variable("HPSEARCH_WRITE_LINGER_S", "0.05",
             "Seconds the result writer waits to batch writes into one transaction.", "service"),
    Variable("HPSEARCH_REPORT_WINDOW_S", "0.05",
             "`hpsearch.report` under the FIFO scheduler: results reported within this many "
             "seconds of a trial's last Tune report travel to the driver together. Raise it "
             "(e.g. 1) when many trials report often: the driver's loop handles one Tune "
             "result per trial per window (docs/scaling.md).", "service"),
    Variable("HPSEARCH_WARM_WORKERS_S", "auto",
             "Warm Ray workers for a study's trials (hpsearch/warm_workers.py): after a study, "
             "each Ray node starts again as many idle workers as its trial actors used (at most "
             "the study's concurrency), kept this many seconds, and a local Ray's workers import "
             "a trial's modules as they start, so the next study's trials start without waiting "
             "for new processes; after a study of a built-in family, those idle workers also "
             "import `torch._dynamo`, which every torch optimizer imports (docs/deployment.md). "
             "auto (the default): on (600) in a process that started its own local Ray and "
             "may run more studies (hpsearch.run, a notebook, `hpsearch run`), "
             "topping up to that many idle workers; off for a dispatcher's per-study driver "
             "(its workers end with it). A driver on a running cluster instead has each node "
             "prestart the study's trial workers, importing Ray Tune and the trial's modules, "
             "and waits for them before its first trial (kept 120 s, or this many seconds). A "
             "number turns it on everywhere for that many seconds; 0 turns it all off.", "service"),
    Variable("HPSEARCH_RETAIN_POINTS", "0",
             "Retention: keep at most this many results per finished trial (first, last, best "
             "and evenly spaced ones; at least 3); the dispatcher thins old curves "
             "periodically. 0: keep every result.", "service"),
    Variable("HPSEARCH_RETAIN_AFTER_S", "86400",
             "Retention: a trial's curve is thinned once it finished this many seconds ago.",
             "service"),
    Variable("HPSEARCH_RETAIN_EVERY_S", "3600",
             "Retention: seconds between a dispatcher's passes (with HPSEARCH_RETAIN_POINTS).",
             "service"),
    Variable("HPSEARCH_STUDY_MAX_CONCURRENT", "0",
             "Most trials one study may run at once (`budget.max_concurrent`); a spec asking "
             "for more is refused at submission. 0: no cap. With the spec's `priority` and the "
             "dispatchers' `--max-studies`, the share policy of docs/deployment.md.", "service"),
    Variable("HPSEARCH_DISPATCHER_PID", "(set by the dispatcher)",
             "The dispatcher's pid, so a driver exits with its dispatcher.", "internal"),
    Variable("HPSEARCH_DB_FD", "(set by the service)",
             "A pipe holding the database URL, read once and removed (the URL never sits in "
             "a child's environment).", "internal"),
    Variable("HPSEARCH_EXIT_WITH_PARENT", "(set by `hpsearch serve`)",
             "`1`: the dispatcher exits when its parent does.", "internal"),
    Variable("HPSEARCH_PRELOAD_MODULES", "(set by a driver on a cluster)",
             "In a trial worker's runtime env: the modules it imports as it starts, before it "
             "takes a trial (hpsearch/warm_workers.py).", "internal"),
    Variable("HPSEARCH_WARM_SIGNAL", "(set by a driver on a cluster)",
             "In a trial worker's runtime env: the key under which it tells its driver it has "
             "imported them (hpsearch/warm_workers.py).", "internal"),
    Variable("HPSEARCH_FAILPOINT", "(none)",
             "Fault injection in tests: the named failpoint raises.", "development"),
    Variable("HPSEARCH_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
             "PostgreSQL admin URL the tests (and benchmarks) create their databases with.",
             "development"),
    Variable("HPSEARCH_BENCH_PG", "(HPSEARCH_TEST_PG)",
             "PostgreSQL server for benchmarks (wins over HPSEARCH_TEST_PG).", "development"),
    Variable("HPSEARCH_CANARY", "(none)",
             "Planted by the security tests: a trial must see it (while secrets are removed).",
             "development"),
    Variable("HPSEARCH_RELIABILITY_COUNTS", "$TMPDIR/hpsearch-reliability.json",
             "File the reliability tests append their counts to.", "development"),
)
NAMES = frozenset(v.name for v in VARIABLES)


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """A warning for each ``HPSEARCH_*`` variable set that is not a setting, with the one
    it most likely meant: a misspelt ``HPSEARCH_DB`` would otherwise leave the embedded
    database in use without a word. Not an error: a newer version's variable is no fault."""
    environ = os.environ if environ is None else environ
    prefix = "HPSEARCH_"
    known = sorted(n[len(prefix):] for n in NAMES)
    out = []
    for name in sorted(n for n in environ if n.startswith(prefix) and n not in NAMES):
        near = nearest(name[len(prefix):], known)
        hint = f"did you mean {prefix}{near}?" if near else "docs/configuration.md lists them"
        out.append(f"{name} is not an hpsearch setting, so it is ignored ({hint})")
    return out


def _get(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def _seconds(name: str, default: float) -> float:
    raw = _get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"must be a number of seconds >= 0, got {raw[:40]!r}", name)
    return value


def _auto_seconds(name: str) -> float | None:
    raw = _get(name)
    if raw is None or raw.strip().lower() == "auto":
        return None
    try:
        return _seconds(name, 0.0)
    except ConfigError:
        raise ConfigError(f"must be auto or a number of seconds >= 0, got {raw[:40]!r}",
                          name) from None


def _list(name: str, sep: str = ",") -> tuple[str, ...]:
    return tuple(p.strip() for p in (_get(name) or "").split(sep) if p.strip())


def _count(name: str, default: int, low: int) -> int:
    raw = _get(name)
    if raw is None:
        return default
    if not (raw.strip().isascii() and raw.strip().isdigit()) or int(raw) < low:
        raise ConfigError(f"must be a whole number >= {low}, got {raw[:40]!r}", name)
    return int(raw)


def _retain_points() -> int:
    points = _count("HPSEARCH_RETAIN_POINTS", 0, 0)
    if 0 < points < 3:  # first, last and best are always kept
        raise ConfigError(f"must be 0 (off) or a whole number >= 3, got {points}",
                          "HPSEARCH_RETAIN_POINTS")
    return points


def _flag(name: str) -> bool:
    raw = (_get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"must be true or false, got {raw[:40]!r}", name)


@dataclass(frozen=True)
class Settings:
    """The configuration a process runs with (see :data:`VARIABLES` for each meaning)."""

    home: Path
    db: str = field(repr=False)  # the database URL (default: SQLite in home); may hold a password
    server: str | None
    token: str | None = field(repr=False)
    ray_address: str | None
    data_roots: tuple[Path, ...]
    data_roots_set: bool  # HPSEARCH_DATA_ROOTS given (else the default root)
    allowed_modules: frozenset[str]
    allowed_trainables: frozenset[str]
    cache_dir: Path
    media_dir: Path
    media_max_items: int
    media_max_bytes: int
    media_every: int
    trial_log_max_chars: int
    figures_at_end: int  # trials from which a study's end stores its page's figures
    secret_key: str | None = field(repr=False)
    secret_key_file: str | None
    trusted_proxies: str  # parsed, with its range, by webui.serve.trusted_proxies
    cookie_secure: bool
    metrics_dir: str | None
    trial_user: str | None
    single_user: bool
    serve_host: str
    serve_port: int
    serve_url: str
    serving_stale_s: float
    serve_call_timeout_s: float
    heartbeat_s: float
    trial_grace_s: float
    write_linger_s: float
    report_window_s: float
    warm_workers_s: float | None  # None: auto (hpsearch/warm_workers.py decides)
    retain_points: int  # 0: retention off (hpsearch/store/retention.py)
    retain_after_s: float
    retain_every_s: float
    study_max_concurrent: int
    dispatcher_pid: int | None
    preload_modules: tuple[str, ...]
    warm_signal: str | None
    exit_with_parent: bool
    failpoint: str | None


def _build() -> Settings:
    home = Path(_get("HPSEARCH_HOME") or Path.home() / ".hpsearch").expanduser()
    roots = _list("HPSEARCH_DATA_ROOTS", os.pathsep)
    serve_host = _get("HPSEARCH_SERVE_HOST") or "127.0.0.1"
    serve_port = _count("HPSEARCH_SERVE_PORT", 8000, 1)
    pid = _get("HPSEARCH_DISPATCHER_PID")
    if pid is not None and not (pid.isascii() and pid.isdigit()):
        raise ConfigError(f"must be a process id, got {pid[:40]!r}", "HPSEARCH_DISPATCHER_PID")
    return Settings(
        home=home,
        db=_get("HPSEARCH_DB") or f"sqlite:///{home / 'hpsearch.db'}",
        server=_get("HPSEARCH_SERVER"),
        token=_get("HPSEARCH_TOKEN"),
        ray_address=_get("HPSEARCH_RAY_ADDRESS"),
        data_roots=tuple(Path(p).expanduser().absolute() for p in roots)
        or ((home / "data").absolute(),),
        data_roots_set=bool(roots),
        allowed_modules=frozenset(_list("HPSEARCH_ALLOWED_MODULES")),
        allowed_trainables=frozenset(_list("HPSEARCH_ALLOWED_TRAINABLES")),
        cache_dir=Path(_get("HPSEARCH_CACHE_DIR") or Path.home() / ".cache" / "hpsearch"),
        media_dir=Path(_get("HPSEARCH_MEDIA_DIR") or home / "media"),
        media_max_items=_count("HPSEARCH_MEDIA_MAX_ITEMS", 48, 0),
        media_max_bytes=_count("HPSEARCH_MEDIA_MAX_BYTES", 4 * 1024 * 1024, 0),
        media_every=_count("HPSEARCH_MEDIA_EVERY", 5, 1),
        trial_log_max_chars=_count("HPSEARCH_TRIAL_LOG_MAX_CHARS", 200_000, 1000),
        figures_at_end=_count("HPSEARCH_FIGURES_AT_END", 1000, 0),
        secret_key=_get("HPSEARCH_SECRET_KEY"),
        secret_key_file=_get("HPSEARCH_SECRET_KEY_FILE"),
        trusted_proxies=(_get("HPSEARCH_TRUSTED_PROXIES") or "0").strip(),
        cookie_secure=_flag("HPSEARCH_COOKIE_SECURE"),
        metrics_dir=_get("HPSEARCH_METRICS_DIR"),
        trial_user=(_get("HPSEARCH_TRIAL_USER") or "").strip() or None,
        single_user=_flag("HPSEARCH_SINGLE_USER"),
        serve_host=serve_host,
        serve_port=serve_port,
        serve_url=_get("HPSEARCH_SERVE_URL") or f"http://{serve_host}:{serve_port}",
        serving_stale_s=_seconds("HPSEARCH_SERVING_STALE_S", 60.0),
        serve_call_timeout_s=_seconds("HPSEARCH_SERVE_CALL_TIMEOUT_S", 20.0),
        heartbeat_s=_seconds("HPSEARCH_HEARTBEAT_S", 5.0),
        trial_grace_s=_seconds("HPSEARCH_TRIAL_GRACE_S", 120.0),
        write_linger_s=_seconds("HPSEARCH_WRITE_LINGER_S", 0.05),
        report_window_s=_seconds("HPSEARCH_REPORT_WINDOW_S", 0.05),
        warm_workers_s=_auto_seconds("HPSEARCH_WARM_WORKERS_S"),
        retain_points=_retain_points(),
        retain_after_s=_seconds("HPSEARCH_RETAIN_AFTER_S", 86400.0),
        retain_every_s=_seconds("HPSEARCH_RETAIN_EVERY_S", 3600.0),
        study_max_concurrent=_count("HPSEARCH_STUDY_MAX_CONCURRENT", 0, 0),
        dispatcher_pid=int(pid) if pid is not None else None,
        preload_modules=tuple(filter(None, (_get("HPSEARCH_PRELOAD_MODULES") or "").split(","))),
        warm_signal=_get("HPSEARCH_WARM_SIGNAL"),
        exit_with_parent=_flag("HPSEARCH_EXIT_WITH_PARENT"),
        failpoint=_get("HPSEARCH_FAILPOINT"),
    )


@functools.lru_cache(maxsize=8)
def _cached(snapshot: tuple) -> Settings:
    return _build()


def settings() -> Settings:
    """The current settings, built once per set of ``HPSEARCH_*`` values."""
    return _cached(tuple(os.environ.get(name) for name in sorted(NAMES)))


def lazily(attribute: str) -> Callable[[], object]:
    """A ``default_factory`` reading one setting when an object is made, not at import."""
    return lambda: getattr(settings(), attribute)


GROUPS = {"user": "Everyone", "service": "The web service and dispatchers",
          "internal": "Set by hpsearch for its own child processes",
          "development": "Tests and benchmarks"}


def markdown() -> str:
    """The variables as docs/configuration.md lists them (``python -m hpsearch.settings``)."""
    out = []
    for group, title in GROUPS.items():
        out += [f"### {title}", "", "| Variable | Default | Meaning |", "|---|---|---|"]
        out += [f"| `{v.name}` | {v.default} | {v.meaning} |" for v in VARIABLES if v.group == group]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # regenerate the table in docs/configuration.md
    print(markdown())
