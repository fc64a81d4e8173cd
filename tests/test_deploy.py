"""The compose file is valid (Debian's docker-compose; no engine is needed to check it),
publishes only the web port, and hands the Ray token around as a secret file."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
RAY_SERVICES = ("ray-head", "ray-gpu-worker", "dispatcher")


def _services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_compose_config_is_valid():
    env = {**os.environ, "POSTGRES_PASSWORD": "x"}
    proc = subprocess.run(["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_compose_publishes_only_the_web_port_and_grafana_on_loopback():
    services = _services()
    published = {name for name, s in services.items() if s.get("ports") or s.get("expose")}
    assert published == {"web", "grafana"}
    assert services["web"]["ports"] == ["8080:8080"]
    assert services["grafana"]["ports"] == ["127.0.0.1:3000:3000"]  # the host's loopback only
    assert services["prometheus"]["networks"] == ["internal"]
    for name in RAY_SERVICES + ("postgres", "migrate"):  # Ray's ports stay inside
        assert services[name]["networks"] == ["internal"], name
    networks = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["networks"]
    assert networks["internal"]["internal"] is True


def test_ray_token_reaches_every_node_and_the_dispatcher_as_a_secret():
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert data["secrets"]["ray_auth_token"] == {"file": "./secrets/ray_auth_token"}
    for name in RAY_SERVICES:
        s = data["services"][name]
        env = s["environment"]
        assert env["RAY_AUTH_MODE"] == "token", name
        assert env["RAY_AUTH_TOKEN_PATH"] == "/run/secrets/ray_auth_token", name
        assert "ray_auth_token" in s["secrets"], name
        assert "RAY_AUTH_TOKEN" not in env, name  # no token in the environment or the file
    assert "--ray-address=ray-head:6380" in data["services"]["dispatcher"]["command"]
    assert data["services"]["web"]["environment"]["HPSEARCH_SECRET_KEY_FILE"].startswith("/run/secrets/")


def test_secrets_stay_out_of_git_and_the_image():
    assert "secrets/" in (ROOT / ".gitignore").read_text().split()
    assert "secrets" in (ROOT / ".dockerignore").read_text().split()
