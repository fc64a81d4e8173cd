"""A driver's local Ray listens on loopback only and keeps its token private (finding 8)."""
from __future__ import annotations

import ipaddress
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, psutil, ray
from hpsearch.orchestration import ensure_ray
ensure_ray()
ray.get(ray.remote(lambda: 1).remote())   # a worker too
me = psutil.Process()
pids = {me.pid} | {c.pid for c in me.children(recursive=True)}
listen = [[c.laddr.ip, c.laddr.port, psutil.Process(c.pid).name()]
          for c in psutil.net_connections(kind="inet")
          if c.pid in pids and c.status == psutil.CONN_LISTEN]
print("LISTEN " + json.dumps(listen))
ray.shutdown()
"""


def _loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%")[0])
    if getattr(addr, "ipv4_mapped", None):
        addr = addr.ipv4_mapped
    return addr.is_loopback


@pytest.mark.skipif(os.geteuid() == 0, reason="as root, test_trial_boundary.py checks the same "
                                                "on the driver's Ray under `hpsearch serve`")
def test_local_ray_binds_loopback_and_its_token_is_0600(tmp_path):
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    token = home / ".ray" / "auth_token"
    token.write_text("a" * 64)
    token.chmod(0o644)  # as Ray 2.60 leaves it
    (home / ".ray").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT), HPSEARCH_HOME=str(tmp_path / "hps"))
    r = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    listen = json.loads(next(ln for ln in r.stdout.splitlines() if ln.startswith("LISTEN "))[7:])
    names = {name for _ip, _port, name in listen}
    assert "raylet" in names and "gcs_server" in names, listen  # the probe saw Ray's servers
    exposed = [x for x in listen if not _loopback(x[0])]
    assert not exposed, exposed
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    assert stat.S_IMODE((home / ".ray").stat().st_mode) == 0o700
