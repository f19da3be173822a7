"""Rendering and offline validation of trustwatch's Kubernetes manifests.

Built-in kinds are validated with the ``kubernetes-validate`` package (the Kubernetes OpenAPI
schemas it bundles, strict: unknown fields are errors); custom resources (Argo Rollouts, Prometheus
Operator) against the trimmed CRD schemas in ``deploy/schemas`` (see trim_crd_schema.py there).
Kustomizations are rendered with a real kustomize: ``kustomize`` or ``kubectl kustomize``.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from tests.deploy.promql import DEPLOY

SCHEMAS = DEPLOY / "schemas"
#: Native sidecars (init containers with restartPolicy: Always) are on by default from 1.29.
KUBERNETES_VERSIONS = ("1.29", "1.37")
MIN_KUSTOMIZE = (4, 1)  # `labels:` with pairs


class ManifestError(AssertionError):
    """A manifest does not validate: says which document and why."""


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> trimmed JSON Schema, from deploy/schemas/*.json."""
    found = {}
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text())
        gvk = schema["x-kubernetes-group-version-kind"]
        found[(f"{gvk['group']}/{gvk['version']}", gvk["kind"])] = schema
    return found


def _describe(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind')} {doc.get('metadata', {}).get('name')!r} ({doc.get('apiVersion')})"


def validate(doc: dict[str, Any]) -> None:
    """Raise ``ManifestError`` unless ``doc`` validates against its Kubernetes or CRD schema."""
    key = (doc.get("apiVersion", ""), doc.get("kind", ""))
    schema = crd_schemas().get(key)
    if schema is not None:
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=lambda e: list(e.absolute_path))
        if errors:
            detail = "; ".join(f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors[:5])
            raise ManifestError(f"{_describe(doc)}: {detail}")
        _validate_metadata(doc)
        if doc["kind"] == "Rollout":
            # A Rollout's template is a pod template: hold it to the Kubernetes schema too.
            validate({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": doc["metadata"]["name"]},
                      "template": doc["spec"]["template"]})
        return
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError as error:
            raise ManifestError(f"{_describe(doc)}: no schema (neither Kubernetes {version} nor deploy/schemas)") from error
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.absolute_path)
            raise ManifestError(f"{_describe(doc)} (Kubernetes {version}): {path}: {error.message}") from None


def _validate_metadata(doc: dict[str, Any]) -> None:
    """A CRD schema leaves metadata open: check it as Kubernetes object metadata (via a ConfigMap)."""
    validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc["metadata"]})


def load_documents(path: Path) -> list[dict[str, Any]]:
    """The non-empty YAML documents of a file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomize_command() -> tuple[list[str] | None, str]:
    """The command that renders a kustomization (a folder is appended), or None with the reason."""
    if kustomize := shutil.which("kustomize"):
        command, version_args = [kustomize, "build"], [kustomize, "version"]
    elif kubectl := shutil.which("kubectl"):
        command, version_args = [kubectl, "kustomize"], [kubectl, "version", "--client"]
    else:
        return None, "neither kustomize nor kubectl is installed"
    output = subprocess.run(version_args, capture_output=True, text=True, check=False, timeout=60).stdout
    match = re.search(r"v?(\d+)\.(\d+)\.\d+", output.split("Kustomize Version:")[-1])
    if match is None or (int(match[1]), int(match[2])) < MIN_KUSTOMIZE:
        return None, f"kustomize older than v{MIN_KUSTOMIZE[0]}.{MIN_KUSTOMIZE[1]} ({output.strip()!r})"
    return command, ""


def render(folder: Path) -> list[dict[str, Any]]:
    """Render a kustomization with the real kustomize; the documents it outputs."""
    command, why = kustomize_command()
    if command is None:
        raise RuntimeError(why)
    result = subprocess.run([*command, str(folder)], capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        raise ManifestError(f"{folder}: kustomize failed: {result.stderr.strip()[-2000:]}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def kustomizations() -> list[Path]:
    """Every folder under deploy/ with a kustomization.yaml."""
    return sorted(path.parent for path in DEPLOY.rglob("kustomization.yaml"))


def resource_files(folder: Path) -> list[Path]:
    """The plain manifest files a kustomization lists under ``resources`` (not folders)."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    return [folder / entry for entry in kustomization.get("resources", []) if (folder / entry).is_file()]


def files_of(folder: Path) -> set[Path]:
    """The files a kustomization names: resources (recursively), patches, generator files, configurations."""
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    named: set[Path] = {folder / "kustomization.yaml"}
    for entry in kustomization.get("resources", []):
        target = (folder / entry).resolve()
        named |= files_of(target) if target.is_dir() else {target}
    for patch in kustomization.get("patches", []):
        if "path" in patch:
            named.add((folder / patch["path"]).resolve())
    for generator in kustomization.get("configMapGenerator", []):
        named |= {(folder / file.split("=")[-1]).resolve() for file in generator.get("files", [])}
    named |= {(folder / entry).resolve() for entry in kustomization.get("configurations", [])}
    return named
