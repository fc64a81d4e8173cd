"""``hpsearch``: a table of small subcommands (see ``hpsearch --help``).

Each handler is a function ``cmd_<name>(args) -> int`` in ``commands.py`` whose
docstring is its help. Errors the user can fix print one line per problem and
exit 2; nothing is written for an invalid spec.
"""
from __future__ import annotations

import argparse
import logging
import sys

from hpsearch.exceptions import HpsearchError, SpecError, StorageError
from hpsearch.settings import settings
from hpsearch.status import StudyStatus


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors: the subcommand's help, exit 2
        self.print_help(sys.stderr)
        self.exit(2, f"\n{self.prog}: error: {message}\n")


def _whole(low: int, high: int | None, what: str):
    """An argparse type: a whole number from ``low`` to ``high``, else ``must be {what}``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value
    return parse


count = _whole(1, None, "a whole number >= 1")  # rows to print
port = _whole(1, 65535, "a port number 1 to 65535")  # to listen on


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=None,
                   help="database URL (default: $HPSEARCH_DB, else sqlite in $HPSEARCH_HOME)")


def build_parser() -> argparse.ArgumentParser:
    from hpsearch.cli import commands as c

    parser = _Parser(prog="hpsearch", description="Hyperparameter search on Ray Tune, stored in SQL.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name: str, fn, *, db: bool = True):
        doc = (fn.__doc__ or "").strip()
        p = sub.add_parser(name, help=doc.splitlines()[0] if doc else None, description=doc,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        if db:
            _add_db(p)
        p.set_defaults(handler=fn)
        return p

    p = add("submit", c.cmd_submit)
    p.add_argument("spec", help="spec file (YAML or JSON), or - for standard input")
    p.add_argument("--name", help="override the spec's name")
    p.add_argument("--ray-address", default=settings().ray_address,
                   help="Ray cluster to run on (default: a local Ray)")
    p.add_argument("--server", default=None,
                   help="queue it on a running hpsearch service (default: $HPSEARCH_SERVER, else "
                        "`server:` in the config file) and return its id at once")
    p.add_argument("--wait", action="store_true", help="with a server: follow the study to its end")
    p.add_argument("--local", action="store_true", help="run here even if a server is configured")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--top", type=count, default=20, help="leaderboard rows to print")

    p = add("validate", c.cmd_validate, db=False)
    p.add_argument("spec", help="spec file (YAML or JSON), or - for standard input")

    p = add("list", c.cmd_list)
    p.add_argument("--status", type=str.upper, choices=[str(s) for s in StudyStatus],
                   metavar="{" + ",".join(StudyStatus) + "}", help="only studies with this status")

    p = add("show", c.cmd_show)
    p.add_argument("study", help="study name or id")
    p.add_argument("--top", type=count, default=None, help="show only the best N trials")

    p = add("resume", c.cmd_resume)
    p.add_argument("study", help="study name or id")
    p.add_argument("--spec", help="refuse to resume if the study's spec differs from this file")
    p.add_argument("--ray-address", default=settings().ray_address)
    p.add_argument("--no-progress", action="store_true")

    p = add("cancel", c.cmd_cancel)
    p.add_argument("study", help="study name or id")
    p.add_argument("--server", default=None,
                   help="cancel on a running hpsearch service (default: $HPSEARCH_SERVER or the "
                        "config file, unless --db is given)")

    p = add("db", c.cmd_db)
    p.add_argument("action", choices=["upgrade", "current", "retain"],
                   help="upgrade the schema to head, show the current revision, or thin old "
                        "curves (retain)")
    p.add_argument("--points", type=int, default=None,
                   help="retain: results kept per finished trial (default: "
                        "$HPSEARCH_RETAIN_POINTS)")
    p.add_argument("--after", type=float, default=None,
                   help="retain: only trials finished at least this many seconds ago (default: "
                        "$HPSEARCH_RETAIN_AFTER_S)")
    p.add_argument("--study", default=None, help="retain: only this study (name or id)")

    from hpsearch.cli.service import add_dispatcher_options, cmd_serve

    p = add("dispatcher", c.cmd_dispatcher)
    add_dispatcher_options(p)
    p.add_argument("--until-idle", action="store_true", help="exit when nothing is queued or running")
    p.add_argument("--metrics-port", type=port, default=None,
                   help="serve Prometheus /metrics (this dispatcher, its drivers' write latency)")
    p.add_argument("--metrics-host", default="127.0.0.1", help="address of --metrics-port")
    p.add_argument("--metrics-dir", default=None,
                   help="folder for the drivers' metrics files (default: $HPSEARCH_METRICS_DIR, "
                        "else a temporary one with --metrics-port)")

    p = add("serve", cmd_serve)
    add_dispatcher_options(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=port, default=8080)

    p = add("ui", c.cmd_ui)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=port, default=8080)
    p.add_argument("--auth", dest="auth", action="store_true", default=None,
                   help="require login (default: on when users exist or the host is not loopback)")
    p.add_argument("--no-auth", dest="auth", action="store_false",
                   help="no login (loopback only; refused on any other address)")

    from hpsearch.cli import accounts, models

    accounts.add_commands(add)
    models.add_commands(add)
    from hpsearch.cli import logs

    logs.add_commands(add)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()  # option defaults come from hpsearch.settings
    except HpsearchError as exc:  # a setting that cannot be used (ConfigError)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    from hpsearch.settings import unknown_variables

    for warning in unknown_variables():
        print(f"warning: {warning}", file=sys.stderr)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.handler(args) or 0
    except SpecError as exc:
        for field, message in exc.problems:
            print(f"error: {field}: {message}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except HpsearchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)  # a server's answer: 2 for 400/422, else 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
