"""One compression run: check options, resolve the source, apply the method, write folder + manifest.

``compress_model`` is what the CLI verb and ``build_variant`` call. Everything that can be
refused is refused before a weight is loaded: options (``parse_options``), the source
spec (``resolve_model``), shapes (``check_model_shapes``), the calibration file. The
folder is written under a temporary name beside the target and renamed into place, so a
half-written variant is never seen.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trustwatch.common.model_specs import ResolvedModel, folder_fingerprint, resolve_model, temp_folder
from trustwatch.compress.calibration import Calibration, calibration_batches, load_calibration
from trustwatch.compress.manifest import SCHEMA, library_versions, write_manifest
from trustwatch.compress.options import CompressOptions, check_model_shapes, parse_options


@dataclass(frozen=True)
class Prepared:
    """A checked run, before any weight is loaded."""

    options: CompressOptions
    source: ResolvedModel
    fingerprint: str
    """SHA-256 of the source GGUF, or fingerprint of the source folder."""
    calibration: Calibration | None


def prepare(
    source_spec: str, options: CompressOptions | Mapping[str, Any], progress: bool = False
) -> Prepared:
    """Parse and check everything about a run; raise ``ValueError`` (naming the problem) if anything is off."""
    checked = options if isinstance(options, CompressOptions) else parse_options(options)
    if checked.method == "gptq":
        from trustwatch.compress.gptq import GPTQ_EXTRA_HINT, gptq_available

        if not gptq_available():
            raise ValueError(
                f"option method: gptq needs gptqmodel, which is not installed; {GPTQ_EXTRA_HINT}"
            )
    source = resolve_model(source_spec, progress=progress)
    check_model_shapes(checked, source.path)
    calibration = load_calibration(checked.calibration) if checked.needs_calibration else None
    fingerprint = source.source_sha256 or folder_fingerprint(source.path)
    return Prepared(checked, source, fingerprint, calibration)


def compress_model(
    source_spec: str,
    options: CompressOptions | Mapping[str, Any],
    out_dir: Path,
    *,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Compress ``source_spec`` with ``options`` into the folder ``out_dir``; returns it."""
    out_dir = Path(out_dir).expanduser().resolve()
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"option out: {out_dir} exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        raise ValueError(f"option out: folder {out_dir} is not empty (pass overwrite to replace it)")
    prepared = prepare(source_spec, options, progress)
    build(prepared, out_dir, progress)
    return out_dir


def build(prepared: Prepared, target: Path, progress: bool = False) -> None:
    """Build the variant in a temporary sibling folder and rename it to ``target`` (replacing it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_folder(target)
    try:
        _write(prepared, tmp, progress)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _write(prepared: Prepared, folder: Path, progress: bool) -> None:
    from trustwatch.compress.layers import load_model, meta_model, save_model, sparsity_report, target_linears

    options, calibration = prepared.options, prepared.calibration
    started = time.perf_counter()
    calibration_info: dict[str, Any] | None = None
    if options.method == "gptq":
        from transformers import AutoTokenizer

        from trustwatch.compress.gptq import quantize_gptq

        tokenizer = AutoTokenizer.from_pretrained(prepared.source.path, local_files_only=True)
        assert calibration is not None
        batches = calibration_batches(tokenizer, calibration, options.seq_len, options.samples)
        assert options.bits is not None and options.group_size is not None
        quantize_gptq(prepared.source.path, folder, batches, options.bits, options.group_size, options.sym)
        layer_count = len(target_linears(meta_model(prepared.source.path)))
        sparsity = None
    else:
        model, tokenizer = load_model(prepared.source.path, progress)
        batches = (
            calibration_batches(tokenizer, calibration, options.seq_len, options.samples)
            if calibration
            else []
        )
        apply_method(model, options, batches, progress)
        layers = target_linears(model, options.include_head)
        layer_count, sparsity = len(layers), sparsity_report(layers)
        save_model(model, tokenizer, folder, progress)
    if calibration is not None:
        calibration_info = {
            "source": calibration.source,
            "sha256": calibration.sha256,
            "procedure": options.calibration_procedure,
            "windows": len(batches),
            "tokens": sum(b.numel() for b in batches),
        }
    quantized = options.method in ("rtn", "gptq")
    manifest = {
        "schema": SCHEMA,
        "method": options.method,
        "label": options.describe(),
        "params": options.parameters(),  # the manifest key stays "params" (on-disk contract)
        "source": {
            "spec": prepared.source.spec,
            "kind": prepared.source.kind,
            "sha256": prepared.fingerprint,
        },
        "calibration": calibration_info,
        "quantization": (
            {"bits": options.bits, "group_size": options.group_size, "sym": options.sym}
            if quantized
            else None
        ),
        "sparsity": sparsity,
        "layers": layer_count,
        "head_included": options.include_head,
        "format": "gptq" if options.method == "gptq" else "dense",
        "wall_time_s": round(time.perf_counter() - started, 3),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": library_versions(),
    }
    write_manifest(folder, manifest)


def apply_method(model: Any, options: CompressOptions, batches: list[Any], progress: bool = False) -> Any:
    """Apply a float-weight method to ``model`` in place (every method but gptq); returns the model."""
    method = options.method
    if method == "rtn":
        from trustwatch.compress.rtn import quantize_rtn

        assert options.bits is not None and options.group_size is not None
        return quantize_rtn(
            model, options.bits, options.group_size, options.sym, options.include_head, progress
        )
    if method == "magnitude":
        from trustwatch.compress.magnitude import prune_magnitude

        assert options.sparsity is not None
        return prune_magnitude(model, options.sparsity, options.include_head, progress)
    if method == "nm":
        from trustwatch.compress.nm import prune_nm

        assert options.pattern is not None
        return prune_nm(model, *options.pattern, include_head=options.include_head, progress=progress)
    if method == "wanda":
        from trustwatch.compress.wanda import prune_wanda

        return prune_wanda(model, batches, options.sparsity, options.pattern, options.include_head, progress)
    if method == "sparsegpt":
        from trustwatch.compress.sparsegpt import prune_sparsegpt

        return prune_sparsegpt(model, batches, options.sparsity, options.pattern, progress)
    raise ValueError(f"option method: {method!r} does not work on float weights in place")
