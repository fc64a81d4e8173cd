"""A Ray address that is not a Ray head is named at once, not waited on forever.

``ray.init(address=...)`` to a port where nothing listens, or where something that is not
Ray answers, waits without end (Ray retries and logs). `hpsearch submit --ray-address` (or
HPSEARCH_RAY_ADDRESS) checks the address first: real CLI processes, real sockets, no Ray.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from hpsearch.store import Store
from hpsearch.testing import free_port
from tests.helpers import quad_spec


def _submit(tmp_path, address: str, via_env: bool = False) -> subprocess.CompletedProcess:
    env, args = _submit_args(tmp_path, address, via_env)
    # the timeout only ends a hang (the failure this test is about), it times nothing
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)


def _submit_args(tmp_path, address: str, via_env: bool = False) -> tuple[dict, list[str]]:
    path = tmp_path / "far.yaml"
    path.write_text(yaml.safe_dump(quad_spec("far", budget={"trials": 1})))
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "HPSEARCH_RAY_ADDRESS")}
    env["HPSEARCH_HOME"] = str(tmp_path / "home")
    args = [sys.executable, "-m", "hpsearch.cli", "submit", str(path), "--no-progress",
            "--db", f"sqlite:///{tmp_path / 'hps.db'}"]
    if via_env:
        env["HPSEARCH_RAY_ADDRESS"] = address
    else:
        args += ["--ray-address", address]
    return env, args


def _nothing_written(tmp_path) -> None:
    db = tmp_path / "hps.db"
    if db.exists():
        store = Store(f"sqlite:///{db}")
        assert store.list_studies() == []
        store.dispose()


@pytest.mark.parametrize("via_env", [False, True])
def test_an_address_where_nothing_listens_is_named(tmp_path, via_env):
    address = f"127.0.0.1:{free_port()}"
    proc = _submit(tmp_path, address, via_env=via_env)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert f"cannot reach a Ray head at {address}" in proc.stderr, proc.stderr[-2000:]
    assert "HPSEARCH_RAY_ADDRESS" in proc.stderr and "Traceback" not in proc.stderr
    _nothing_written(tmp_path)


def _submit_alone(tmp_path, address: str) -> subprocess.CompletedProcess:
    """``hpsearch submit`` in a PID namespace of its own (``unshare``, as root), with an
    empty Ray temp folder (RAY_TMPDIR): ``auto`` sees no Ray that another test started,
    only what this test put there."""
    ray_tmp = tmp_path / "ray-tmp"
    (ray_tmp / "ray").mkdir(parents=True, exist_ok=True)
    env, args = _submit_args(tmp_path, address)
    env["RAY_TMPDIR"] = str(ray_tmp)
    return subprocess.run(["unshare", "--pid", "--kill-child", "--mount-proc"] + args, env=env,
                          capture_output=True, text=True, timeout=120)


def test_auto_with_no_ray_on_the_machine_is_named(tmp_path):
    proc = _submit_alone(tmp_path, "auto")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "--ray-address / HPSEARCH_RAY_ADDRESS: auto: no Ray runs on this machine" in proc.stderr, \
        proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    _nothing_written(tmp_path)
    assert not (tmp_path / "ray-tmp" / "ray" / "ray_current_cluster").exists()  # none started


def test_auto_that_finds_a_ray_which_does_not_answer_says_so_instead_of_waiting(tmp_path):
    """``auto`` joins the address the last ``ray start`` left; that Ray may be gone (a CI run
    found auto joining a test's Ray on an unroutable address, and waiting without end)."""
    address = f"127.0.0.1:{free_port()}"
    (tmp_path / "ray-tmp" / "ray").mkdir(parents=True)
    (tmp_path / "ray-tmp" / "ray" / "ray_current_cluster").write_text(address)
    proc = _submit_alone(tmp_path, "auto")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert f"(auto found the Ray at {address}): cannot reach a Ray head at {address}" in proc.stderr, \
        proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    _nothing_written(tmp_path)


class _Web(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_an_address_that_answers_but_is_not_ray_is_named(tmp_path):
    """Such as the Ray dashboard's port (8265, the Jobs address) given for the head's."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Web)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        address = f"127.0.0.1:{server.server_address[1]}"
        proc = _submit(tmp_path, address)
    finally:
        server.shutdown()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"{address} answers, but not as a Ray head" in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    _nothing_written(tmp_path)


@pytest.mark.parametrize("address, says", [
    ("http://127.0.0.1:8265", "the Ray dashboard's address"),
    ("127.0.0.1", "HOST:PORT"),
    ("127.0.0.1:http", "HOST:PORT"),
    ("127.0.0.1:70000", "HOST:PORT"),
])
def test_a_malformed_address_is_refused(tmp_path, address, says):
    proc = _submit(tmp_path, address)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert address in proc.stderr and says in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    _nothing_written(tmp_path)



def test_rays_own_ray_address_is_used_and_checked(tmp_path):
    """With no --ray-address, Ray's RAY_ADDRESS names the cluster (as for ``ray.init``);
    it used to make ``ray.init`` refuse hpsearch's local-Ray settings with a traceback."""
    address = f"127.0.0.1:{free_port()}"
    path = tmp_path / "far.yaml"
    path.write_text(yaml.safe_dump(quad_spec("far", budget={"trials": 1})))
    env = {k: v for k, v in os.environ.items() if k != "HPSEARCH_RAY_ADDRESS"}
    env.update(HPSEARCH_HOME=str(tmp_path / "home"), RAY_ADDRESS=address)
    proc = subprocess.run([sys.executable, "-m", "hpsearch.cli", "submit", str(path),
                           "--no-progress", "--db", f"sqlite:///{tmp_path / 'hps.db'}"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert f"RAY_ADDRESS: cannot reach a Ray head at {address}" in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    _nothing_written(tmp_path)



@pytest.mark.parametrize("command", ["dispatcher", "serve"])
def test_a_service_refuses_a_malformed_address_before_it_starts(tmp_path, command):
    """A dispatcher waits for a head that is down (tests/service/test_elastic.py), but an
    address that cannot be one is refused at its start, before it claims anything."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS",
                                                            "HPSEARCH_RAY_ADDRESS")}
    env["HPSEARCH_HOME"] = str(tmp_path / "home")
    proc = subprocess.run([sys.executable, "-m", "hpsearch.cli", command, "--ray-address",
                           "http://127.0.0.1:8265", "--db", f"sqlite:///{tmp_path / 'hps.db'}"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "'http://127.0.0.1:8265' is the Ray dashboard's address" in proc.stderr
    assert "Traceback" not in proc.stderr
