"""The compose file is valid (Debian's docker-compose; no engine is needed to check it)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_compose_config_is_valid():
    env = {**os.environ, "POSTGRES_PASSWORD": "x", "HPSEARCH_SECRET_KEY": "x", "RAY_AUTH_TOKEN": "x"}
    proc = subprocess.run(["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_compose_publishes_only_the_web_port():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == {"web"}
    assert "RAY_AUTH_TOKEN" in services["dispatcher"]["environment"]
