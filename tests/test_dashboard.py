"""The Grafana dashboard queries only metrics the service exports: every metric name in
monitoring/grafana/dashboards/hpsearch.json is found in real /metrics scrapes of the web
service (with a viewer's token, as Prometheus sends it) and of a dispatcher (with a
driver's result write latency), and Prometheus's config scrapes both."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import yaml

from hpsearch.accounts import Accounts
from hpsearch.dispatcher import Dispatcher
from hpsearch.monitoring import serve_dispatcher_metrics
from hpsearch.store import Store
from webui import create_app

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "monitoring" / "grafana" / "dashboards" / "hpsearch.json"
FUNCTIONS = {"sum", "avg", "min", "max", "count", "rate", "irate", "increase", "histogram_quantile"}


def queried_metrics() -> set[str]:
    dash = json.loads(DASHBOARD.read_text())
    names = set()
    for panel in dash["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", target["expr"])  # label matchers, ranges
            expr = re.sub(r"\b(by|without)\s*\([^)]*\)", "", expr)        # grouping labels
            tokens = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr)) - FUNCTIONS
            assert tokens, target["expr"]
            names |= tokens
    return names


def exported(text: str) -> set[str]:
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines()
            if line and not line.startswith("#")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_metric_the_dashboard_queries_is_exported(tmp_path):
    url = f"sqlite:///{tmp_path / 'metrics.db'}"
    store = Store(url)
    accounts = Accounts(store)
    accounts.add_user("admin", "correct horse battery staple", role="admin")
    accounts.add_user("prometheus", "correct horse battery staple", role="viewer")
    _, token = accounts.create_token("prometheus", "scrape")
    app = create_app({"TESTING": True, "DATABASE_URL": url, "AUTH": True, "SECRET_KEY": "k" * 48})
    client = app.test_client()
    assert client.get("/metrics").status_code in (302, 401)  # Prometheus needs its token
    # A prediction request is counted per deployment and status, whatever its answer (here a
    # 404: no deployment of that name), so the prediction panels' series exist.
    missing = client.post("/api/v1/deployments/nope/predict", json={"inputs": [[0.0]]},
                          headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 404, missing.get_data(as_text=True)
    web = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert web.status_code == 200
    names = exported(web.get_data(as_text=True))

    # A driver process records write latency into the dispatcher's metrics folder...
    folder = tmp_path / "driver-metrics"
    folder.mkdir()
    code = ("import os; os.environ['HPSEARCH_METRICS_DIR'] = %r\n"
            "from hpsearch.monitoring import record_write_latency\n"
            "assert record_write_latency(1)\n"
            "from hpsearch.store import writer\n"
            "[observe(0.004) for observe in writer.LATENCY_OBSERVERS]\n" % str(folder))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=120)
    # ...which the dispatcher's own endpoint serves with its pool figures.
    dispatcher = Dispatcher(store, max_studies=3, name="d1", metrics_dir=str(folder))
    port = _free_port()
    server = serve_dispatcher_metrics(dispatcher, "127.0.0.1", port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            names |= exported(resp.read().decode())
    finally:
        server.shutdown()
        store.dispose()

    queried = queried_metrics()
    assert {"hpsearch_trials_running", "hpsearch_result_write_seconds_bucket",
            "hpsearch_dispatcher_max_studies", "hpsearch_predictions_total",
            "hpsearch_prediction_seconds_bucket"} <= queried
    assert queried <= names, sorted(queried - names)


def test_prometheus_scrapes_the_web_service_with_a_token_and_the_dispatcher():
    config = yaml.safe_load((ROOT / "monitoring" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    web = jobs["hpsearch-web"]
    assert web["static_configs"][0]["targets"] == ["web:8080"] and web["metrics_path"] == "/metrics"
    assert web["authorization"]["credentials_file"] == "/run/secrets/prometheus_token"
    assert jobs["hpsearch-dispatcher"]["static_configs"][0]["targets"] == ["dispatcher:9100"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert "prometheus_token" in compose["services"]["prometheus"]["secrets"]
    grafana = compose["services"]["grafana"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in grafana["volumes"]}
    provider = yaml.safe_load((ROOT / "monitoring/grafana/provisioning/dashboards/hpsearch.yml")
                              .read_text())["providers"][0]
    assert mounts["./monitoring/grafana/dashboards"] == provider["options"]["path"]
