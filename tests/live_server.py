"""A Flask app under a real waitress in a thread, for the browser tests, stopped safely.

Stopping it with ``server.close()`` from the test's thread (what the tests did) closes
waitress's wake-up pipe while its worker threads may still be finishing a response; each
then writes its wake-up byte (``b"x"``) to that descriptor number, by then another file's:
a CI run found the next test's new SQLite file holding ``xx`` ("file is not a database").

:meth:`LiveServer.stop` writes into no descriptor of the server's. The worker threads end
first; the loop thread sends what they left; then the loop's map is emptied, so its next
turn serves nothing and returns (a connection to the port wakes it now rather than at its
1 s select timeout); only after the loop thread ended are the sockets and the pipe closed.
Waking the loop through the pipe, as waitress does, failed once in CI (``Bad file
descriptor``: the pipe was closed by then, cause not found); this stop does not need it.
"""
from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Iterator


class LiveServer:
    """``app`` served on a free loopback port from now until :meth:`stop`."""

    def __init__(self, app, threads: int = 4):
        from waitress.server import create_server

        self._server = create_server(app, host="127.0.0.1", port=0, threads=threads)
        self.port = self._server.effective_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = threading.Thread(target=self._server.run, name="waitress-loop", daemon=True)
        self._loop.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        server = self._server
        # The worker threads finish their requests and end (waitress waits up to 5 s).
        server.task_dispatcher.shutdown()
        # The loop thread sends what they wrote (a response still in its buffers).
        deadline = time.monotonic() + timeout_s / 2
        while (time.monotonic() < deadline and self._loop.is_alive()
               and any(getattr(d, "total_outbufs_len", 0) for d in list(server._map.values()))):
            time.sleep(0.01)
        dispatchers = list(server._map.values())
        server._map.clear()  # the loop's next turn finds nothing to serve: it returns
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:  # the listening socket is gone: the loop wakes at its select timeout
            pass
        self._loop.join(timeout_s)
        for dispatcher in dispatchers:  # nobody polls them now
            try:
                dispatcher.close()
            except OSError:
                pass


@contextmanager
def live_server(app, threads: int = 4) -> Iterator[str]:
    """``app`` served on a free loopback port; yields its base URL."""
    server = LiveServer(app, threads)
    try:
        yield server.url
    finally:
        server.stop()
