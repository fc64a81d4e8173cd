"""The browser tests' server (tests/live_server.py) stops without writing to a descriptor
it closed: a request still running when a test ends must not leave its wake-up byte in the
next file the process opens (a CI run found a new SQLite database holding ``xx``)."""
from __future__ import annotations

import threading
import time
import urllib.request

from flask import Flask

from tests.live_server import live_server


def test_a_stopped_server_writes_into_no_file_opened_after_it(tmp_path):
    app = Flask("slow")
    entered, release = threading.Event(), threading.Event()

    @app.get("/slow")
    def slow():
        entered.set()
        release.wait(10)
        return "done " * 2000  # a response the worker writes in more than one piece

    answers = []
    with live_server(app) as url:
        client = threading.Thread(target=lambda: answers.append(
            urllib.request.urlopen(url + "/slow", timeout=20).read()), daemon=True)
        client.start()
        assert entered.wait(10), "the request never reached the app"
        # The request finishes while the server is being stopped.
        threading.Timer(0.5, release.set).start()
    # Files opened now take the descriptor numbers the server gave back.
    files = [open(tmp_path / f"file-{i}", "w+b") for i in range(16)]
    release.wait(10)
    client.join(10)
    time.sleep(0.5)
    written = {}
    for f in files:
        with f:
            f.seek(0)
            written[f.name] = f.read()
    assert {name: data for name, data in written.items() if data} == {}
    assert answers == [("done " * 2000).encode()]  # the request in flight got its whole answer


def test_a_server_whose_wake_up_pipe_is_already_closed_still_stops(tmp_path):
    """The state a CI run met (cc73d2c): the harness's stop found waitress's wake-up pipe
    closed (``OSError: Bad file descriptor`` as it pulled it). Stopping needs no pipe."""
    from tests.live_server import LiveServer

    app = Flask("plain")
    app.get("/")(lambda: "ok")
    server = LiveServer(app)
    assert urllib.request.urlopen(server.url + "/", timeout=10).read() == b"ok"
    server._server.trigger.close()  # as waitress's own handle_close does
    server.stop()
    assert not server._loop.is_alive()
    try:
        urllib.request.urlopen(server.url + "/", timeout=2)
    except OSError:
        pass
    else:
        raise AssertionError("the stopped server still answers")
