"""The files of a run directory that the HTML report reads, each optional but ``report.json``.

- ``report.json``: ``{"variants": [...], "metrics": [{"variant", "probe", "metric", "group",
  "value", "n"}], "scorer": ..., "config": ...}`` and optionally ``"baseline"``, ``"gate"``,
  ``"divergence"``, ``"started_at"`` / ``"finished_at"`` (ISO 8601) and ``"elapsed_s"``.
  A variant entry is a name, or an object with ``name`` (or ``variant``), ``model`` (or
  ``spec``), ``backend`` and an optional ``compression`` manifest.
- ``outcomes.jsonl``: read with :func:`trustwatch.monitors.outcomes.load_outcomes`.
- ``generations.jsonl``: ``{"item_id", "variant", "probe", "group", "sample", "prompt", "text",
  "score"}`` per generated sample (score may be null).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trustwatch.common.errors import InputError
from trustwatch.common.jsonl import iter_jsonl
from trustwatch.monitors.outcomes import RUN_OUTCOMES, OutcomeTable, load_outcomes

REPORT_JSON = "report.json"
GENERATIONS = "generations.jsonl"
GENERATION_FIELDS = ("item_id", "variant", "probe", "text")


class ReportInputError(InputError):
    """A run file the report cannot use: the message names the file (and the line)."""


@dataclass(frozen=True)
class VariantInfo:
    name: str
    model: str | None = None
    backend: str | None = None
    compression: Mapping[str, Any] | None = None


@dataclass
class RunFiles:
    out_dir: Path
    report: dict[str, Any]
    outcomes: OutcomeTable | None
    generations: list[dict[str, Any]] = field(default_factory=list)
    variants: list[VariantInfo] = field(default_factory=list)
    baseline: str | None = None
    missing: list[str] = field(default_factory=list)
    """Optional files that were not there (said in the report)."""


def _variant(entry: Any, where: str) -> VariantInfo:
    if isinstance(entry, str):
        return VariantInfo(entry)
    if not isinstance(entry, Mapping):
        raise ReportInputError(f"{where}: a variant must be a name or an object, got {entry!r}")
    name = entry.get("name", entry.get("variant"))
    if not isinstance(name, str) or not name:
        raise ReportInputError(f"{where}: a variant object needs a 'name', got {dict(entry)!r}")
    model = entry.get("model", entry.get("spec"))
    compression = entry.get("compression")
    return VariantInfo(
        name=name,
        model=None if model is None else str(model),
        backend=None if entry.get("backend") is None else str(entry["backend"]),
        compression=compression if isinstance(compression, Mapping) else None,
    )


def read_report_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ReportInputError(f"{path}: no such file (the report is built from a run's report.json)")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ReportInputError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    if not isinstance(report, dict):
        raise ReportInputError(f"{path}: must hold a JSON object, got {type(report).__name__}")
    metrics = report.get("metrics", [])
    if not isinstance(metrics, list):
        raise ReportInputError(f"{path}: 'metrics' must be a list")
    for number, row in enumerate(metrics):
        missing = [
            k
            for k in ("variant", "probe", "metric", "group", "value")
            if not isinstance(row, dict) or k not in row
        ]
        if missing:
            raise ReportInputError(f"{path}: metrics[{number}] lacks {', '.join(missing)}")
    return report


def read_generations(path: Path) -> list[dict[str, Any]]:
    """The rows of ``generations.jsonl``; errors name the file and the line."""
    rows = []
    for number, row in iter_jsonl(path, lambda message, line: ReportInputError(f"{path}:{line}: {message}")):
        if not isinstance(row, dict):
            raise ReportInputError(f"{path}:{number}: a row must be a JSON object")
        missing = [k for k in GENERATION_FIELDS if k not in row]
        if missing:
            raise ReportInputError(f"{path}:{number}: missing field(s) {', '.join(missing)}")
        score = row.get("score")
        if score is not None and (
            isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score)
        ):
            raise ReportInputError(f"{path}:{number}: score must be a number or null, got {score!r}")
        rows.append(row)
    return rows


def load_run_files(out_dir: Path) -> RunFiles:
    """Read a run directory: ``report.json`` is required, the JSONL files are optional."""
    out_dir = Path(out_dir)
    report = read_report_json(out_dir / REPORT_JSON)
    missing = []
    outcomes_path = out_dir / RUN_OUTCOMES
    outcomes = None
    if outcomes_path.is_file() and outcomes_path.read_text(encoding="utf-8").strip():
        outcomes = load_outcomes(outcomes_path)
    else:
        missing.append(RUN_OUTCOMES)
    generations: list[dict[str, Any]] = []
    if (out_dir / GENERATIONS).is_file():
        generations = read_generations(out_dir / GENERATIONS)
    else:
        missing.append(GENERATIONS)
    where = f"{out_dir / REPORT_JSON}: variants"
    variants = [_variant(entry, f"{where}[{i}]") for i, entry in enumerate(report.get("variants") or [])]
    # Variants only named in the data still get a column, after the declared ones.
    seen = {v.name for v in variants}
    named = [row["variant"] for row in report.get("metrics", [])]
    named += outcomes.variants if outcomes is not None else []
    named += [row["variant"] for row in generations]
    for name in dict.fromkeys(named):
        if name not in seen:
            variants.append(VariantInfo(str(name)))
            seen.add(name)
    baseline = report.get("baseline")
    if baseline is None and variants:
        baseline = variants[0].name
    if baseline is not None and baseline not in seen:
        raise ReportInputError(f"{out_dir / REPORT_JSON}: baseline {baseline!r} is not one of the variants")
    if baseline is not None:  # the baseline goes first everywhere
        variants.sort(key=lambda v: v.name != baseline)
    return RunFiles(out_dir, report, outcomes, generations, variants, baseline, missing)
