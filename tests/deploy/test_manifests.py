"""Kubernetes manifests: Kustomize output and plain files validate offline, and fit together."""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
from trustwatch.server.service_config import DEFAULT_DRAIN_SECONDS

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


def trustwatch_workload(docs: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """The one Deployment or Rollout whose pods run trustwatch."""
    [workload] = [
        d for d in docs
        if d["kind"] in ("Deployment", "Rollout")
        and any(c["name"] == "trustwatch" for c in pod_spec(d).get("initContainers", []) + pod_spec(d)["containers"])
    ]
    return workload


def model_server_container(workload: dict[str, Any]) -> dict[str, Any]:
    [container] = [c for c in pod_spec(workload)["containers"] if c["name"] == "model-server"]
    return container


def flag(container: dict[str, Any], name: str) -> str | None:
    """The value of ``--name VALUE`` or ``--name=VALUE`` in a container's args (None when absent)."""
    args = [str(a) for a in container.get("args", [])]
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return None


def served_name(container: dict[str, Any]) -> str | None:
    """The model name a vLLM OpenAI server serves: --served-model-name, else its --model."""
    return flag(container, "--served-model-name") or flag(container, "--model")


def config_of(docs: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """trustwatch's config as rendered into the ConfigMap the trustwatch container mounts."""
    workload = trustwatch_workload(docs)
    mounts = {m["mountPath"]: m["name"] for m in trustwatch_container(workload)["volumeMounts"]}
    [volume] = [v for v in pod_spec(workload)["volumes"] if v["name"] == mounts["/etc/trustwatch"]]
    config: dict[str, Any] = yaml.safe_load(one(docs, "ConfigMap", volume["configMap"]["name"])["data"]["config.yaml"])
    return config


def requests_gpu(container: dict[str, Any]) -> bool:
    resources = container.get("resources", {})
    return any(key.endswith("/gpu") for part in ("requests", "limits") for key in resources.get(part, {}))


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
    workload = trustwatch_workload(docs)
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
def test_base_sidecar_probes_its_own_model_server_over_localhost() -> None:
    docs = rendered(BASE)
    deployment = trustwatch_workload(docs)
    server = model_server_container(deployment)
    config = config_of(docs)
    [endpoint] = [v for v in config["variants"] if v.get("backend") == "openai"]
    assert endpoint["name"] != config["baseline"], "the candidate is what the pod's server serves"
    url = urlsplit(endpoint["options"]["base_url"])
    assert (url.scheme, url.hostname, url.path) == ("http", "localhost", "/v1")
    ports = {p["containerPort"] for p in server["ports"]}
    assert url.port in ports and str(url.port) == flag(server, "--port")
    assert endpoint["options"]["model"] == served_name(server)
    # The original stays in process, from the volume both containers mount.
    [original] = [v for v in config["variants"] if v["name"] == config["baseline"]]
    assert original["backend"] == "transformers" and original["model"].startswith("/models/")
    assert "/models" in {m["mountPath"] for m in trustwatch_container(deployment)["volumeMounts"]}


@needs_kustomize
def test_rollout_runs_only_the_model_server_behind_a_stable_and_a_canary_service() -> None:
    docs = rendered(ARGO)
    rollout = one(docs, "Rollout")
    canary = rollout["spec"]["strategy"]["canary"]
    spec = pod_spec(rollout)
    assert "initContainers" not in spec and [c["name"] for c in spec["containers"]] == ["model-server"]
    pod_labels = rollout["spec"]["template"]["metadata"]["labels"]
    for key in ("stableService", "canaryService"):
        service = one(docs, "Service", canary[key])
        assert service["spec"]["selector"].items() <= pod_labels.items()
    assert canary["stableService"] != canary["canaryService"]
    assert not [d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "model-server"]
    assert not [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "model-server"]


@needs_kustomize
def test_rollout_waits_for_the_gate_before_promotion() -> None:
    docs = rendered(ARGO)
    rollout = one(docs, "Rollout")
    templates = {d["metadata"]["name"]: d for d in docs if d["kind"] == "AnalysisTemplate"}
    steps = rollout["spec"]["strategy"]["canary"]["steps"]
    analyses = [i for i, s in enumerate(steps) if "analysis" in s]
    assert analyses, "no analysis step"
    # Before the verdict, part of the pods at most run the new revision; after the last step the
    # Rollout promotes it, so the last step must be the analysis.
    assert all(s.get("setWeight", 0) < 100 for s in steps[:analyses[0]])
    assert analyses[-1] == len(steps) - 1
    config = config_of(docs)
    candidates = {v["name"] for v in config["variants"]} - {config["baseline"]}
    for step in (steps[i]["analysis"] for i in analyses):
        for ref in step["templates"]:
            needed = {a["name"] for a in templates[ref["templateName"]]["spec"]["args"] if "value" not in a}
            assert needed <= {a["name"] for a in step["args"]}
        args = {a["name"]: a["value"] for a in step["args"]}
        assert args["candidate"] in candidates, "the analysis asks about a variant trustwatch compares"


@needs_kustomize
def test_argo_trustwatch_holds_no_weights_and_compares_the_stable_and_canary_services() -> None:
    docs = rendered(ARGO)
    deployment = trustwatch_workload(docs)
    assert deployment["kind"] == "Deployment" and deployment["metadata"]["name"] == "trustwatch"
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    spec = pod_spec(deployment)
    assert "initContainers" not in spec and [c["name"] for c in spec["containers"]] == ["trustwatch"]
    container = trustwatch_container(deployment)
    assert container["args"] == CLI_ARGS and container["image"].endswith("-cpu")
    # No model weights: no /models mount, no volume on the models PVC, no GPU, a small request.
    models_claims = {v["persistentVolumeClaim"]["claimName"] for v in pod_spec(one(docs, "Rollout"))["volumes"]
                     if "persistentVolumeClaim" in v}
    assert models_claims
    claims = {v["persistentVolumeClaim"]["claimName"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
    assert not claims & models_claims
    assert not [m for m in container["volumeMounts"] if m["mountPath"].startswith("/models")]
    assert not requests_gpu(container) and "nodeSelector" not in spec
    assert int(container["resources"]["limits"]["memory"].removesuffix("Gi")) <= 4
    # Its store on a PVC of its own (one replica, Recreate): it no longer lives in the canary pods.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    [store] = [v for v in spec["volumes"] if v["name"] == mounts["/var/lib/trustwatch"]]
    assert one(docs, "PersistentVolumeClaim", store["persistentVolumeClaim"]["claimName"])
    # Its variants: the stable Service (the baseline) and the canary Service, each at a port that
    # Service exposes and that reaches the model server's port, with the name the server serves.
    rollout = one(docs, "Rollout")
    canary = rollout["spec"]["strategy"]["canary"]
    server = model_server_container(rollout)
    server_ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    config = config_of(docs)
    assert all(v.get("backend") == "openai" and "model" not in v for v in config["variants"])
    by_host = {urlsplit(v["options"]["base_url"]).hostname: v for v in config["variants"]}
    assert set(by_host) == {canary["stableService"], canary["canaryService"]}
    assert by_host[canary["stableService"]]["name"] == config["baseline"]
    for host, variant in by_host.items():
        url = urlsplit(variant["options"]["base_url"])
        assert (url.scheme, url.path) == ("http", "/v1")
        [port] = [p for p in one(docs, "Service", host)["spec"]["ports"] if p["port"] == url.port]
        assert server_ports.get(port["targetPort"], port["targetPort"]) == int(flag(server, "--port") or 0)
        assert variant["options"]["model"] == served_name(server)


@needs_kustomize
def test_argo_example_can_be_included_with_a_name_prefix_and_an_image(tmp_path: Path) -> None:
    """As users build on it: the Rollout's image, PVC and Service names follow the including kustomization."""
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "resources": [os.path.relpath(ARGO, tmp_path)],
        "namePrefix": "x-",
        "images": [{"name": "vllm/vllm-openai", "newTag": "v9"}],
    }))
    docs = tuple(render(tmp_path))
    rollout = one(docs, "Rollout")
    canary = rollout["spec"]["strategy"]["canary"]
    names = {d["metadata"]["name"] for d in docs}
    assert {canary["stableService"], canary["canaryService"]} <= names
    claims = {v["persistentVolumeClaim"]["claimName"] for v in pod_spec(rollout)["volumes"] if "persistentVolumeClaim" in v}
    assert claims and claims <= names
    assert model_server_container(rollout)["image"] == "vllm/vllm-openai:v9"


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
        service = one(rendered(ARGO), "Service", urlsplit(url).hostname)
        assert {p["name"]: p["port"] for p in service["spec"]["ports"]}["metrics"] == urlsplit(url).port
        pod_labels = trustwatch_workload(rendered(ARGO))["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= pod_labels.items(), "the Service reaches trustwatch"
        assert (metric["successCondition"], metric["failureCondition"]) == ('result == "PASS"', 'result == "FAIL"')


def _trustwatch_configs() -> list[Path]:
    return sorted([*DEPLOY.glob("config/*.yaml"), *(DEPLOY / "kubernetes").rglob("config.yaml"), ARGO / "config.yaml"])


def test_every_config_generator_file_is_a_checked_config() -> None:
    generated = {path for folder in kustomizations() for path in files_of(folder) if path.name == "config.yaml"}
    assert generated == {path.resolve() for path in _trustwatch_configs() if path.parent != DEPLOY / "config"}


@pytest.mark.parametrize("path", _trustwatch_configs(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_trustwatch_configs_are_consistent(path: Path) -> None:
    config = yaml.safe_load(path.read_text())
    assert set(config) <= CONFIG_KEYS, set(config) - CONFIG_KEYS
    names = [v["name"] for v in config["variants"]]
    assert len(set(names)) == len(names) and config["baseline"] in names
    for variant in config["variants"]:
        if "from" in variant:
            assert variant["from"] in names and variant["compress"]["method"] in ("rtn", "gptq")
        elif variant.get("backend") == "openai":
            # A served model: where it is served, and its served name.
            assert urlsplit(variant["options"]["base_url"]).path == "/v1" and variant["options"]["model"]
        else:
            assert variant["model"] and variant["backend"] in ("transformers", "vllm")
    assert config["probes"] and all("builtin" in p or {"data", "loader"} <= set(p) for p in config["probes"])
    assert config["store"]["path"].startswith("/var/lib/trustwatch/"), "the store lives on the store volume"
    assert 0 < config["replay"]["max_backend_share"] <= 1


@needs_kustomize
@pytest.mark.parametrize("folder", [BASE, GPU, ARGO], ids=lambda p: p.name)
def test_the_pods_grace_period_covers_trustwatchs_drain(folder: Path) -> None:
    """SIGTERM to SIGKILL: the pod's terminationGracePeriodSeconds (30 s unless set) must exceed
    ``service.drain_seconds``, with room for the interpreter's exit and, in the sidecar pod, for
    the model server, which the kubelet stops first."""
    docs = rendered(folder)
    grace = pod_spec(trustwatch_workload(docs)).get("terminationGracePeriodSeconds", 30)
    drain = config_of(docs).get("service", {}).get("drain_seconds", DEFAULT_DRAIN_SECONDS)
    assert drain + 10 <= grace, (drain, grace)
