"""A Flask app under a real waitress in a thread, for the browser tests, stopped safely.

Stopping it with ``server.close()`` from the test's thread (what the tests did) closes
waitress's wake-up pipe while its worker threads may still be finishing a response; each
then writes its wake-up byte (``b"x"``) to that descriptor number, by then another file's:
a CI run found the next test's new SQLite file holding ``xx`` ("file is not a database").
:meth:`LiveServer.stop` first lets the worker threads end, then has the server's own loop
thread close every socket and the pipe, so nothing writes to a closed descriptor.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator


class LiveServer:
    """``app`` served on a free loopback port from now until :meth:`stop`."""

    def __init__(self, app, threads: int = 4):
        from waitress.server import create_server

        self._server = create_server(app, host="127.0.0.1", port=0, threads=threads)
        self.url = f"http://127.0.0.1:{self._server.effective_port}"
        self._loop = threading.Thread(target=self._server.run, name="waitress-loop", daemon=True)
        self._loop.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        from waitress import wasyncore

        server = self._server
        # The worker threads finish their requests and end (waitress waits up to 5 s): none
        # pulls the trigger afterwards.
        server.task_dispatcher.shutdown()
        # The loop thread closes the listening socket, the connections and the trigger
        # itself; its map is then empty and its loop returns.
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        self._loop.join(timeout_s)


@contextmanager
def live_server(app, threads: int = 4) -> Iterator[str]:
    """``app`` served on a free loopback port; yields its base URL."""
    server = LiveServer(app, threads)
    try:
        yield server.url
    finally:
        server.stop()
