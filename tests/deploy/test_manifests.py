"""Kubernetes manifests: Kustomize output and plain files validate offline, and fit together."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

# The offline Kubernetes schemas; a dev dependency (pip install kubernetes-validate).
pytest.importorskip("kubernetes_validate", reason="kubernetes-validate not installed (pip install kubernetes-validate)")

from tests.deploy.manifests import (
    ManifestError,
    files_of,
    kustomizations,
    kustomize_command,
    load_documents,
    render,
    resource_files,
    validate,
)
from tests.deploy.promql import DEPLOY
from trustwatch.server.config import TOP_KEYS

KUSTOMIZE, WHY_NO_KUSTOMIZE = kustomize_command()
needs_kustomize = pytest.mark.skipif(KUSTOMIZE is None, reason=WHY_NO_KUSTOMIZE)
BASE = DEPLOY / "kubernetes" / "base"
GPU = DEPLOY / "kubernetes" / "overlays" / "gpu-standalone"
ARGO = DEPLOY / "argo-rollouts"
CLI_ARGS = ["serve", "--config", "/etc/trustwatch/config.yaml", "--grpc-address", "0.0.0.0:50051",
            "--metrics-address", "0.0.0.0:9464"]
CONFIG_KEYS = TOP_KEYS  # the config reader's own list of sections


@functools.cache
def rendered(folder: Path) -> tuple[dict[str, Any], ...]:
    return tuple(render(folder))


def one(docs: tuple[dict[str, Any], ...], kind: str, name: str | None = None) -> dict[str, Any]:
    [doc] = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    return doc


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def trustwatch_container(workload: dict[str, Any]) -> dict[str, Any]:
    spec = pod_spec(workload)
    [container] = [c for c in spec.get("initContainers", []) + spec["containers"] if c["name"] == "trustwatch"]
    return container


def test_kustomizations_are_found() -> None:
    assert set(kustomizations()) == {BASE, GPU, ARGO}


@pytest.mark.parametrize("folder", kustomizations(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_plain_manifest_files_validate(folder: Path) -> None:
    files = resource_files(folder)
    assert files
    for path in files:
        for doc in load_documents(path):
            validate(doc)


@needs_kustomize
@pytest.mark.parametrize("folder", kustomizations(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_kustomize_output_validates(folder: Path) -> None:
    docs = rendered(folder)
    assert len(docs) >= 5
    for doc in docs:
        validate(doc)
        for container in pod_spec(doc)["containers"] if doc["kind"] in ("Deployment", "Rollout") else []:
            assert "restartPolicy" not in container, f"{container['name']}: only init containers take restartPolicy"


def test_every_file_under_kubernetes_and_argo_rollouts_is_used() -> None:
    used = set().union(*(files_of(folder) for folder in kustomizations()))
    on_disk = {p.resolve() for root in (DEPLOY / "kubernetes", ARGO) for p in root.rglob("*.yaml")}
    assert on_disk - used == set(), "files no kustomization names (so nothing validates them)"
    assert used - on_disk == set(), "kustomizations name files that do not exist"


@needs_kustomize
@pytest.mark.parametrize(
    ("folder", "kind", "mutate"),
    [
        (BASE, "Deployment", lambda d: pod_spec(d)["initContainers"][0].update(restartPolicyy="Always")),
        (BASE, "Service", lambda d: d["spec"]["ports"][0].update(port="grpc")),
        (BASE, "ServiceMonitor", lambda d: d["spec"]["endpoints"][0].update(intervall="30s")),
        (BASE, "PrometheusRule", lambda d: d["spec"]["groups"][0]["rules"][0].update(exprr="up")),
        (BASE, "ServiceMonitor", lambda d: d["metadata"]["labels"].update(tier=3)),
        (ARGO, "AnalysisTemplate", lambda d: d["spec"]["metrics"][0].update(successCondtion="true")),
        (ARGO, "AnalysisTemplate", lambda d: d["spec"]["metrics"][0].update(count=[18])),
        (ARGO, "Rollout", lambda d: d["spec"]["strategy"]["canary"]["steps"][0].update(setWeigth=5)),
        (ARGO, "Rollout", lambda d: pod_spec(d)["containers"][0].update(imagee="x")),
    ],
    ids=["core-field", "core-type", "servicemonitor", "prometheusrule", "crd-metadata", "analysis-field",
         "analysis-type", "rollout-field", "rollout-pod-template"],
)
def test_validation_rejects_a_broken_manifest(folder: Path, kind: str, mutate: Any) -> None:
    broken = copy.deepcopy(next(d for d in rendered(folder) if d["kind"] == kind))
    mutate(broken)
    with pytest.raises(ManifestError):
        validate(broken)


@needs_kustomize
def test_base_runs_trustwatch_as_a_native_sidecar_beside_the_model_server() -> None:
    docs = rendered(BASE)
    deployment = one(docs, "Deployment")
    spec = pod_spec(deployment)
    sidecar = trustwatch_container(deployment)
    assert sidecar in spec["initContainers"] and sidecar["restartPolicy"] == "Always"
    assert [c["name"] for c in spec["containers"]] == ["model-server"]
    assert sidecar["args"] == CLI_ARGS
    assert {p["name"]: p["containerPort"] for p in sidecar["ports"]} == {"grpc": 50051, "metrics": 9464}
    assert sidecar["readinessProbe"]["grpc"] == {"port": 50051}
    assert sidecar["livenessProbe"]["grpc"]["port"] == 50051
    assert "startupProbe" not in sidecar, "a sidecar's startup probe would hold back the model server"
    assert {"cpu", "memory"} <= set(sidecar["resources"]["requests"])
    assert sidecar["securityContext"]["runAsNonRoot"] is True
    mounts = {m["mountPath"]: m["name"] for m in sidecar["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    store_claim = volumes[mounts["/var/lib/trustwatch"]]["persistentVolumeClaim"]["claimName"]
    assert one(docs, "PersistentVolumeClaim", store_claim)
    config_map = one(docs, "ConfigMap", volumes[mounts["/etc/trustwatch"]]["configMap"]["name"])
    assert set(config_map["data"]) == {"config.yaml"}


@needs_kustomize
@pytest.mark.parametrize("folder", kustomizations(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_service_and_servicemonitor_reach_trustwatch(folder: Path) -> None:
    docs = rendered(folder)
    workload = next(d for d in docs if d["kind"] in ("Deployment", "Rollout"))
    pod_labels = workload["spec"]["template"]["metadata"]["labels"]
    ports = {p["name"]: p["containerPort"] for p in trustwatch_container(workload)["ports"]}
    service = one(docs, "Service", "trustwatch")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert {p["targetPort"]: p["port"] for p in service["spec"]["ports"]} == ports
    monitor = one(docs, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["metrics"]
    # The rules and the dashboard expect job="trustwatch".
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "trustwatch"
    assert one(docs, "PrometheusRule")


@needs_kustomize
def test_gpu_overlay_runs_trustwatch_alone_on_a_gpu() -> None:
    docs = rendered(GPU)
    deployment = one(docs, "Deployment")
    spec = pod_spec(deployment)
    assert deployment["metadata"]["name"] == "trustwatch"
    assert "initContainers" not in spec
    [container] = spec["containers"]
    assert container["name"] == "trustwatch" and "restartPolicy" not in container
    assert container["image"].endswith("-gpu")
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["startupProbe"]["grpc"]["port"] == 50051
    assert not [d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "model-server"]
    mounted = {m["name"] for m in container["volumeMounts"]}
    assert mounted == {v["name"] for v in spec["volumes"]}, "every volume mounted, every mount a volume"
    config = yaml.safe_load(one(docs, "ConfigMap")["data"]["config.yaml"])
    served = [v for v in config["variants"] if "model" in v]
    assert len(config["variants"]) >= 3 and all(v["backend"] == "vllm" for v in served)
    assert sum(v["options"]["gpu_memory_utilization"] for v in served) < 1


@needs_kustomize
def test_rollout_waits_for_the_gate_before_shifting_traffic() -> None:
    docs = rendered(ARGO)
    rollout = one(docs, "Rollout")
    templates = {d["metadata"]["name"]: d for d in docs if d["kind"] == "AnalysisTemplate"}
    steps = rollout["spec"]["strategy"]["canary"]["steps"]
    first_analysis = next(i for i, s in enumerate(steps) if "analysis" in s)
    assert all(s.get("setWeight", 0) == 0 for s in steps[:first_analysis])
    for step in (s["analysis"] for s in steps if "analysis" in s):
        for ref in step["templates"]:
            needed = {a["name"] for a in templates[ref["templateName"]]["spec"]["args"] if "value" not in a}
            assert needed <= {a["name"] for a in step["args"]}
    sidecar = trustwatch_container(rollout)
    assert sidecar["restartPolicy"] == "Always" and sidecar["image"].startswith("ghcr.io/")
    config_names = {v["configMap"]["name"] for v in pod_spec(rollout)["volumes"] if "configMap" in v}
    assert config_names <= {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
    assert not [d for d in docs if d["kind"] == "Deployment"]


@needs_kustomize
@pytest.mark.parametrize("name", ["trustwatch-gate", "trustwatch-gate-web"])
def test_analysis_templates_fail_on_fail_pass_on_pass_and_wait_otherwise(name: str) -> None:
    template = one(rendered(ARGO), "AnalysisTemplate", name)
    [metric] = template["spec"]["metrics"]
    assert metric["failureLimit"] == 0 and metric["consecutiveSuccessLimit"] == 1
    assert metric["inconclusiveLimit"] == metric["count"], "wait for up to `count` inconclusive measurements"
    assert "interval" in metric
    if name == "trustwatch-gate":
        assert (metric["successCondition"], metric["failureCondition"]) == ("result[0] == 0", "result[0] == 2")
        assert "trustwatch_gate_verdict" in metric["provider"]["prometheus"]["query"]
    else:
        web = metric["provider"]["web"]
        defaults = {a["name"]: a["value"] for a in template["spec"]["args"] if "value" in a}
        url = web["url"].replace("{{args.gate-url}}", defaults["gate-url"])
        # The Service in the same namespace, the metrics port, the per-candidate gate endpoint.
        assert url == "http://trustwatch:9464/gate/{{args.candidate}}" and web["jsonPath"] == "{$.verdict}"
        assert (metric["successCondition"], metric["failureCondition"]) == ('result == "PASS"', 'result == "FAIL"')


def _trustwatch_configs() -> list[Path]:
    return sorted([*DEPLOY.glob("config/*.yaml"), *(DEPLOY / "kubernetes").rglob("config.yaml")])


@pytest.mark.parametrize("path", _trustwatch_configs(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_trustwatch_configs_are_consistent(path: Path) -> None:
    config = yaml.safe_load(path.read_text())
    assert set(config) <= CONFIG_KEYS, set(config) - CONFIG_KEYS
    names = [v["name"] for v in config["variants"]]
    assert len(set(names)) == len(names) and config["baseline"] in names
    for variant in config["variants"]:
        if "from" in variant:
            assert variant["from"] in names and variant["compress"]["method"] in ("rtn", "gptq")
        else:
            assert variant["model"] and variant["backend"] in ("transformers", "vllm")
    assert config["probes"] and all("builtin" in p or {"data", "loader"} <= set(p) for p in config["probes"])
    assert config["store"]["path"].startswith("/var/lib/trustwatch/"), "the store lives on the store volume"
    assert 0 < config["replay"]["max_backend_share"] <= 1
