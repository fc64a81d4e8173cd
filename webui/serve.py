"""Serve the web UI under waitress (``hpsearch ui``)."""
from __future__ import annotations

import ipaddress
import sys

LOOPBACK_NAMES = {"localhost"}


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(db: str | None, host: str = "127.0.0.1", port: int = 8080) -> int:
    """Run the app on host:port until interrupted; returns an exit code.

    The UI has no login yet, so it listens on loopback only: a remote host is refused.
    """
    if not is_loopback(host):
        print(f"error: refusing to listen on {host!r}: the web UI has no authentication yet; "
              "use 127.0.0.1 (and an SSH tunnel to reach it from elsewhere)", file=sys.stderr)
        return 2
    from waitress import serve as waitress_serve

    from webui import create_app

    app = create_app({"DATABASE_URL": db} if db else None)
    print(f"hpsearch UI on http://{host}:{port}/ (database {app.extensions['hpsearch_store'].safe_url})")
    waitress_serve(app, host=host, port=port, threads=8)
    return 0
