"""One handler per subcommand; each docstring is that command's help."""
from __future__ import annotations

import sys

from hpsearch.cli.format import fmt, leaderboard, table
from hpsearch.exceptions import SpecError
from hpsearch.status import StudyStatus


def _read_spec(path: str) -> dict:
    from hpsearch.spec import _read, parse_text

    if path == "-":
        return parse_text(sys.stdin.read())
    if not path.endswith((".yaml", ".yml", ".json")):
        raise SpecError(f"expected a .yaml, .yml or .json file, got {path!r}", "spec")
    return _read(path)


def reading_store(url: str | None, upgrade: bool | None = None):
    """The store of a command that reads what is there (or changes it): an SQLite file
    named by --db or HPSEARCH_DB that does not exist is a typo, refused (exit 2) instead of
    created empty and listed as "no studies"; the built-in default ($HPSEARCH_HOME's
    hpsearch.db) is created as ever (zero config). Commands that write (submit, db upgrade,
    ui, user add) create a new file."""
    from hpsearch.settings import settings
    from hpsearch.store import Store

    builtin = f"sqlite:///{settings().home / 'hpsearch.db'}"
    return Store(url, upgrade=upgrade, create=(url or settings().db) == builtin)


def _server(args) -> str | None:
    """--server, else $HPSEARCH_SERVER or the config file's, unless --db names a database."""
    from hpsearch.client import resolve_server

    if args.server:
        return args.server
    return None if args.db else resolve_server()


def cmd_submit(args) -> int:
    """Validate a spec and run its search (here, or on a service with --server).

    Prints a progress bar while trials run and the leaderboard at the end.
    An invalid spec prints one line per problem and exits 2; nothing is written.
    """
    from hpsearch.api import Study
    from hpsearch.spec import validate
    from hpsearch.store import Store

    raw = _read_spec(args.spec)
    if args.name:
        raw = {**raw, "name": args.name}
    server = None if args.local else _server(args)
    if server:
        from hpsearch.cli import remote

        return remote.submit(server, raw, wait=args.wait, top=args.top)
    spec = validate(raw, allow_import=True)
    store = Store(args.db)
    from hpsearch.orchestration import run_study

    row = run_study(spec, store=store, ray_address=args.ray_address,
                    progress=not args.no_progress)
    print(leaderboard(Study(store, row.id), limit=args.top))
    return 0 if row.status == StudyStatus.COMPLETED else 1


def cmd_validate(args) -> int:
    """Check a spec without running it; prints the normalised spec."""
    from hpsearch.spec import dump_yaml, validate

    spec = validate(_read_spec(args.spec), allow_import=True)
    print(dump_yaml(spec), end="")
    return 0


def cmd_list(args) -> int:
    """List studies: status, family, searcher, best value, trials done/budget."""
    from hpsearch.store import queries

    store = reading_store(args.db)
    studies = store.list_studies(status=args.status)
    summary = queries.summaries(store, studies)
    rows = []
    for s in studies:
        d = summary[s.id]
        status = f"{s.status} (waiting for a node)" if s.waiting else s.status
        rows.append([s.id, s.name, status, s.trainable, s.searcher,
                     f"{s.metric} ({s.mode})", d.best_value,
                     f"{d.counts.done}/{s.n_trials}", s.created_at.strftime("%Y-%m-%d %H:%M")])
    print(table(["id", "name", "status", "trainable", "searcher", "metric", "best", "trials",
                 "created"], rows))
    return 0


def cmd_show(args) -> int:
    """Show one study: its trials (best first) and its best trial."""
    from hpsearch.api import Study

    store = reading_store(args.db)
    print(leaderboard(Study(store, store.get_study(args.study).id), limit=args.top))
    return 0


def cmd_resume(args) -> int:
    """Continue a study whose driver stopped; finished trials are kept as they are."""
    from hpsearch.api import Study
    from hpsearch.orchestration import resume_study

    store = reading_store(args.db)
    spec = _read_spec(args.spec) if args.spec else None
    row = resume_study(args.study, store=store, spec=spec, ray_address=args.ray_address,
                       progress=not args.no_progress)
    print(leaderboard(Study(store, row.id)))
    return 0 if row.status == StudyStatus.COMPLETED else 1


def cmd_cancel(args) -> int:
    """Cancel a queued study, or stop a running one within seconds."""

    server = _server(args)
    if server:
        from hpsearch.cli import remote

        return remote.cancel(server, args.study)
    store = reading_store(args.db)
    study = store.get_study(args.study)
    status = store.request_cancel(study.id)
    print(f"study {study.name!r}: "
          f"{'cancelled' if status == StudyStatus.CANCELLED else 'cancel requested'}")
    return 0


def cmd_db(args) -> int:
    """Database schema: `upgrade` to the newest revision, or show the `current` one.

    `retain` thins the learning curves of trials that finished a while ago to at most
    --points results each (first, last, best and evenly spaced ones; finals, bests and
    leaderboards do not change), as the dispatcher does with HPSEARCH_RETAIN_POINTS.
    """
    from hpsearch.store import migrate
    from hpsearch.store.store import Store

    if args.action == "retain":
        return _retain(args)
    store = (Store(args.db, upgrade=True) if args.action == "upgrade"
             else reading_store(args.db, upgrade=False))
    print(f"{store.safe_url}: schema at {migrate.current_revision(store.engine)} "
          f"(head {migrate.head_revision()})")
    return 0


def _retain(args) -> int:
    from hpsearch.settings import settings
    from hpsearch.store.retention import RetentionPolicy, retain

    s = settings()
    points = args.points if args.points is not None else s.retain_points
    if not points and args.points is None:
        raise SpecError("retention is off: give --points K (>= 3) or set "
                        "HPSEARCH_RETAIN_POINTS", "--points")
    policy = RetentionPolicy(points, s.retain_after_s if args.after is None else args.after)
    problems = [("--" + ("points" if f == "points" else "after"), m)
                for f, m in policy.problems()]
    if problems:
        raise SpecError(problems)
    store = reading_store(args.db)
    study_id = store.get_study(args.study).id if args.study else None
    done = retain(store, policy, study_id=study_id)
    print(f"{done.trials} trials thinned to at most {policy.points} results each: "
          f"{done.deleted} results deleted, {done.kept} kept")
    return 0


def cmd_dispatcher(args) -> int:
    """Run queued studies (from the web UI, the API or `submit --server`) as they arrive."""
    from hpsearch.cli.service import run_dispatcher

    return run_dispatcher(args)


def cmd_ui(args) -> int:
    """Serve the web UI on the same database as the CLI."""
    from webui.serve import serve

    return serve(db=args.db, host=args.host, port=args.port, auth=getattr(args, "auth", None))


__all__ = ["cmd_submit", "cmd_validate", "cmd_list", "cmd_show", "cmd_resume", "cmd_cancel",
           "cmd_db", "cmd_dispatcher", "cmd_ui", "fmt"]
