"""Variants on demand: a config declares ``{from: <variant>, compress: {method: ..., ...}}``.

``build_variant`` builds such a variant once and caches the folder under
``cache_root() / "variants"``, keyed by what defines it (the manifest's defining
fields): the source fingerprint, the method, its parameters and the calibration hash. A
second call with the same definition returns the cached folder at once. Builds are
serialised by a lock file and appear by an atomic rename (the same ``file_lock`` as
``model_specs``' GGUF conversion), so two processes never build or read a half variant;
the temporary folder of a build killed midway is removed by the next build
(``model_specs.remove_stale_temp_folders``).

``DEFAULT_VARIANTS`` is the set the embedded default compares with the embedded model:
4-bit RTN, 50% magnitude, 2:4 magnitude, and 4-bit GPTQ when gptqmodel is installed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trustwatch.common.model_specs import DEFAULT_MODEL_SPEC, cache_root, file_lock, remove_stale_temp_folders
from trustwatch.compress.gptq import gptq_available
from trustwatch.compress.manifest import MANIFEST_NAME
from trustwatch.compress.pipeline import Prepared, build, prepare


def default_variants(
    source: str = DEFAULT_MODEL_SPEC, include_gptq: bool | None = None
) -> dict[str, dict[str, Any]]:
    """``{name: {"from": source, "compress": {...}}}`` for the default comparison set."""
    variants: dict[str, dict[str, Any]] = {
        "rtn-4bit": {"from": source, "compress": {"method": "rtn", "bits": 4, "group_size": 64}},
        "magnitude-50": {"from": source, "compress": {"method": "magnitude", "sparsity": 0.5}},
        "magnitude-2of4": {"from": source, "compress": {"method": "nm", "pattern": "2:4"}},
    }
    if gptq_available() if include_gptq is None else include_gptq:
        variants["gptq-4bit"] = {"from": source, "compress": {"method": "gptq", "bits": 4, "group_size": 64}}
    return variants


DEFAULT_VARIANTS: dict[str, dict[str, Any]] = default_variants()


def variant_key(prepared: Prepared) -> str:
    """SHA-256 of the canonical JSON of what defines a variant."""
    definition = {
        "source": prepared.fingerprint,
        "method": prepared.options.method,
        "params": prepared.options.parameters(),
        "calibration": prepared.calibration.sha256 if prepared.calibration else None,
    }
    if prepared.options.calibration_procedure is not None:
        # Keys of variants built before the procedure was recorded lack it: those are rebuilt.
        definition["procedure"] = prepared.options.calibration_procedure
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def variants_root(cache_dir: Path | None = None) -> Path:
    return Path(cache_dir) if cache_dir is not None else cache_root() / "variants"


def build_variant(
    source_spec: str, compress: Mapping[str, Any], cache_dir: Path | None = None, progress: bool = False
) -> Path:
    """The cached folder of ``source_spec`` compressed as ``compress`` says, built on first use.

    ``compress`` is a config's ``compress:`` block (``{"method": "rtn", "bits": 4, ...}``);
    bad options raise ``ValueError`` before any model is loaded.
    """
    prepared = prepare(source_spec, compress, progress)
    key = variant_key(prepared)
    target = variants_root(cache_dir) / f"{prepared.options.method}-{key[:16]}"
    remove_stale_temp_folders(target.parent)  # what a killed build left
    if (target / MANIFEST_NAME).is_file():
        return target
    with file_lock(target.with_suffix(".lock")):
        if not (target / MANIFEST_NAME).is_file():
            build(prepared, target, progress)
    return target
