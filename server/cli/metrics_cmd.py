"""``trustwatch metrics``: the metric registry as a table.

- ``trustwatch metrics [--json]``: every metric, per probe: the outcome columns it reads, its
  statistic (proportion, mean or ratio; direction; test) and the Prometheus series, with their labels, that carry it;
  then each metric's definition.
- ``trustwatch metrics --markdown``: the same table in Markdown, as ``probes/README.md`` holds it
  (a test checks that the README does not drift from it).

Everything comes from ``trustwatch.common.metrics``.
"""

from __future__ import annotations

import argparse
from typing import Any

from trustwatch.common.metrics import (
    DIVERGENCE,
    DIVERGENCE_BASELINE_VALUE,
    DIVERGENCE_CANDIDATE_VALUE,
    DIVERGENCE_COMPANIONS,
    DIVERGENCE_FDR_LOWER,
    DIVERGENCE_ITEMS,
    GATE_TOLERANCE,
    METHODS,
    PROBE_METRIC,
    PROBE_METRIC_ITEMS,
    STATISTICS,
    MetricDef,
    Series,
    registry,
    series_of,
)
from trustwatch.server.cli.common import emit

SERIES_NOTES: dict[str, str] = {
    PROBE_METRIC.name: "per variant, over every item the variant answered (paper and counted metrics), with "
    "trustwatch_probe_metric_items (same labels)",
    PROBE_METRIC_ITEMS.name: "the items trustwatch_probe_metric counts: every item the variant answered",
    DIVERGENCE.name: "candidate against baseline, over the items both answered (paired), with "
    "trustwatch_divergence_lower, trustwatch_divergence_upper and trustwatch_divergence_fdr_lower (same "
    "labels), trustwatch_divergence_baseline_value, trustwatch_divergence_candidate_value and "
    "trustwatch_divergence_items; a gated metric: the gate's own rows, in its rule's unit (scale), counted "
    "groups only",
    DIVERGENCE_FDR_LOWER.name: "tested rows: the FDR-adjusted lower bound that the gate's FAIL reads",
    DIVERGENCE_BASELINE_VALUE.name: "the baseline's value over the paired items, in the metric's unit",
    DIVERGENCE_CANDIDATE_VALUE.name: "the candidate's value over the paired items, in the metric's unit",
    DIVERGENCE_ITEMS.name: "the paired items a divergence row counts",
    GATE_TOLERANCE.name: "while a policy rule gates the metric, in the rule's unit (scale)",
}
LEGEND = (PROBE_METRIC, PROBE_METRIC_ITEMS, DIVERGENCE, DIVERGENCE_FDR_LOWER, DIVERGENCE_BASELINE_VALUE,
          DIVERGENCE_CANDIDATE_VALUE, DIVERGENCE_ITEMS, GATE_TOLERANCE)
ON_DEMAND = "none (diff --all-outcomes, policy rule)"
"""The series cell of an outcome column that a paper metric reads: diffed only when asked."""


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "metrics", parents=[common], help="the metric registry: probe, columns, statistic, Prometheus series"
    )
    parser.add_argument("--markdown", action="store_true", help="print the table in Markdown (probes/README.md)")
    parser.set_defaults(handler=run)


def series_text(series: Series) -> str:
    return f"{series.name}{{{','.join(series.labels)}}}"


def _statistic(metric: MetricDef) -> str:
    statistic = metric.statistic + (f" x{metric.scale:g}" if metric.scale != 1.0 else "")
    tested = ", per variant only" if metric.role == "counted" else f", {metric.method}"
    return f"{statistic}, {metric.worse} is worse{tested}"


def _series_cell(metric: MetricDef) -> str:
    """Short names: ``divergence*`` stands for the divergence series and their companions,
    ``probe_metric*`` for ``probe_metric`` and ``probe_metric_items``."""
    names = [s.name for s in series_of(metric) if s not in (*DIVERGENCE_COMPANIONS, PROBE_METRIC_ITEMS)]
    starred = (DIVERGENCE.name, PROBE_METRIC.name)
    return ", ".join(n.removeprefix("trustwatch_") + ("*" if n in starred else "") for n in names) or ON_DEMAND


def entries() -> list[dict[str, Any]]:
    """One dict per declared metric (the JSON of ``trustwatch metrics --json``)."""
    return [
        {
            "metric": m.name,
            "probe": m.probe,
            "role": m.role,
            "columns": list(m.columns),
            "statistic": m.statistic,
            "scale": m.scale,
            "worse": m.worse,
            "method": m.method,
            "unit": m.unit,
            "definition": m.definition,
            "series": [{"name": s.name, "labels": list(s.labels)} for s in series_of(m)],
        }
        for m in registry()
    ]


HEADER = ("metric", "probe", "role", "columns", "statistic", "series")


def _cells(metric: MetricDef) -> tuple[str, ...]:
    unit = f" ({metric.unit})" if metric.unit else ""
    return (
        metric.name + unit, metric.probe, metric.role, ", ".join(metric.columns), _statistic(metric), _series_cell(metric)
    )


def _legend() -> list[str]:
    out = [f"{s.name.removeprefix('trustwatch_')}: {series_text(s)}: {SERIES_NOTES[s.name]}"
           for s in LEGEND]
    out += [f"{statistic}: {text}" for statistic, text in STATISTICS.items()]
    out += [f"{method}: {text}" for method, text in METHODS.items()]
    return out


def markdown() -> str:
    """The table as ``probes/README.md`` holds it, between its generated-table markers."""
    lines = ["| " + " | ".join(HEADER) + " | definition |", "|" + " --- |" * (len(HEADER) + 1)]
    for metric in registry():
        cells = list(_cells(metric))
        cells[0] = f"`{metric.name}`" + (f" ({metric.unit})" if metric.unit else "")
        cells[1] = f"`{metric.probe}`"
        cells[3] = ", ".join(f"`{c}`" for c in metric.columns)
        lines.append("| " + " | ".join([*cells, metric.definition]) + " |")
    lines.append("")
    lines += [f"- {line}" for line in _legend()]
    return "\n".join(lines)


def text() -> str:
    rows = [HEADER, *(_cells(m) for m in registry())]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER) - 1)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1]
             for row in rows]
    lines += ["", "Series and words:"] + [f"  {line}" for line in _legend()]
    lines += ["", "Definitions:"] + [f"  {m.probe}/{m.name}: {m.definition}" for m in registry()]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.markdown:
        print(markdown())
        return 0
    payload = {
        "metrics": entries(),
        "series": [
            {"name": s.name, "labels": list(s.labels), "note": SERIES_NOTES[s.name]}
            for s in LEGEND
        ],
    }
    emit(args, payload, text())
    return 0
