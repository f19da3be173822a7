"""``trustwatch-compression.json``: what made a compressed folder, written beside its weights.

Fields: ``schema``, ``method``, ``label``, ``params`` (the method's parameters),
``source`` (spec, kind, sha256 of the GGUF or fingerprint of the folder),
``calibration`` (source, sha256, windows, tokens; null for data-free methods),
``quantization`` (bits, group size, symmetric; null for pruning), ``sparsity``
(measured fraction of exact zeros per target layer and overall; null for GPTQ, whose
packed weights are not floats), ``layers`` (how many were compressed), ``head_included``,
``format`` (``dense`` or ``gptq``), ``wall_time_s``, ``created``, ``versions``.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
from pathlib import Path
from typing import Any

MANIFEST_NAME = "trustwatch-compression.json"
SCHEMA = 1

_LIBRARIES = ("trustwatch", "torch", "transformers", "safetensors", "gptqmodel", "optimum")


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries that shape the output (None when absent), and Python's."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def write_manifest(folder: Path, manifest: dict[str, Any]) -> Path:
    path = folder / MANIFEST_NAME
    path.write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest, or None when it has none (an original model)."""
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON (line {error.lineno}: {error.msg})") from None
    if not isinstance(manifest, dict) or "method" not in manifest:
        raise ValueError(f"{path}: not a trustwatch compression manifest (no 'method')")
    return manifest


def summarise_manifest(manifest: dict[str, Any]) -> str:
    """One line for ``trustwatch run``: method and parameters, measured sparsity, source, time."""
    parts = [manifest.get("label") or manifest["method"]]
    sparsity = manifest.get("sparsity")
    if sparsity is not None:
        parts.append(f"measured sparsity {sparsity['overall']:.1%} over {manifest.get('layers', '?')} layers")
    calibration = manifest.get("calibration")
    if calibration is not None:
        parts.append(f"calibrated on {calibration['source']} ({calibration['tokens']} tokens)")
    source = manifest.get("source", {})
    digest = (source.get("sha256") or "")[:12]
    parts.append(f"from {source.get('spec', '?')}" + (f" [{digest}]" if digest else ""))
    if "wall_time_s" in manifest:
        parts.append(f"built in {manifest['wall_time_s']:.1f} s")
    return "; ".join(parts)
