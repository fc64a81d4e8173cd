"""The autoscaling examples in docs/deployment.md are real configurations: the cluster
launcher's against Ray's own schema (ray-schema.json, with Ray's defaults filled in as
`ray up` does), the KubeRay RayCluster's worker groups for what hpsearch relies on, and
a spec asking for a node type validates and asks Ray for what those nodes declare."""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from hpsearch import spec as specmod
from tests.helpers import quad_spec

DOC = Path(__file__).resolve().parents[1] / "docs" / "deployment.md"


def checked_blocks() -> list[dict]:
    text = DOC.read_text()
    blocks = re.findall(r"<!-- checked by tests/test_deployment_docs.py[^>]*-->\s*```yaml\n(.*?)```",
                        text, re.S)
    return [yaml.safe_load(b) for b in blocks]


def kuberay_resources(params: dict) -> dict:
    """KubeRay's rayStartParams.resources: a JSON object, quoted once more for the shell."""
    raw = params["resources"]
    return json.loads(json.loads(raw) if raw.startswith('"') else raw)


def test_cluster_launcher_example_passes_rays_schema():
    from ray.autoscaler._private.util import fillout_defaults, validate_config

    launcher, _ = checked_blocks()
    validate_config(fillout_defaults(launcher))
    types = launcher["available_node_types"]
    assert launcher["idle_timeout_minutes"] > 0 and types["head"]["resources"]["CPU"] == 0
    for name in ("a100", "t4"):
        assert types[name]["min_workers"] == 0 < types[name]["max_workers"]  # grows from nothing
        assert types[name]["resources"]["gpu_memory_gb"] > 0


def test_kuberay_example_autoscales_two_node_types():
    _, cluster = checked_blocks()
    assert cluster["kind"] == "RayCluster" and cluster["apiVersion"] == "ray.io/v1"
    spec = cluster["spec"]
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["autoscalerOptions"]["idleTimeoutSeconds"] > 0
    assert spec["headGroupSpec"]["rayStartParams"]["port"] != "6379"
    groups = {g["groupName"]: g for g in spec["workerGroupSpecs"]}
    assert set(groups) == {"a100", "t4"}
    declared = {}
    for name, g in groups.items():
        assert 0 == g["minReplicas"] <= g["replicas"] <= g["maxReplicas"]
        params = g["rayStartParams"]
        limits = g["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert int(params["num-gpus"]) == limits["nvidia.com/gpu"]
        declared[name] = kuberay_resources(params)
    assert declared == {"a100": {"A100": 8, "gpu_memory_gb": 640}, "t4": {"T4": 4, "gpu_memory_gb": 64}}
    # A study for the A100 type: valid, and what it asks of Ray only an a100 node has.
    ask = specmod.load(quad_spec("big", resources={"cpu": 4, "gpu": 1, "gpu_memory_gb": 40,
                                                   "custom": {"A100": 1}})).resources.ray_request()
    fits = [n for n, res in declared.items()
            if all(res.get(k, 0) >= v for k, v in ask.items() if k not in ("cpu", "gpu"))]
    assert fits == ["a100"]
