"""``hpsearch logs STUDY TRIAL [--follow]``: what a trial printed, from SQL or a service."""
from __future__ import annotations

import sys
import time
import urllib.parse
from typing import Callable

FOLLOW_EVERY_S = 1.0


def _local(args) -> Callable[[int], dict]:
    from hpsearch.cli.commands import reading_store
    from hpsearch.store.outputs import log_page

    store = reading_store(args.db)
    study_id = store.get_study(args.study).id
    return lambda after: log_page(store, study_id, args.trial, after)


def _remote(server: str, args) -> Callable[[int], dict]:
    from hpsearch.client import Client

    client = Client(server)
    study_id = client.study_id(args.study)
    return lambda after: client.request(
        "GET", f"/studies/{study_id}/trials/{args.trial}/log?"
               + urllib.parse.urlencode({"after": after}))


def cmd_logs(args) -> int:
    """Print a trial's log (stdout, stderr, logging); --follow prints new lines until it ends."""
    from hpsearch.cli.commands import _server

    server = _server(args)
    fetch = _remote(server, args) if server else _local(args)
    after = 0
    while True:
        page = fetch(after)
        sys.stdout.write(page["text"])
        sys.stdout.flush()
        after = page["end"]
        if not args.follow or not page["live"]:
            if args.follow:  # lines written with the final status
                sys.stdout.write(fetch(after)["text"])
            return 0
        time.sleep(FOLLOW_EVERY_S)


def add_commands(add) -> None:
    p = add("logs", cmd_logs)
    p.add_argument("study", help="study name or id")
    p.add_argument("trial", type=int, help="trial number")
    p.add_argument("--follow", "-f", action="store_true",
                   help="keep printing what the trial prints until it ends")
    p.add_argument("--server", default=None,
                   help="read from a running hpsearch service (default: $HPSEARCH_SERVER or the "
                        "config file, unless --db is given)")
