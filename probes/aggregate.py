"""Per-variant metric values, overall and per group, from outcome rows (for the report).

The definitions live in the registry ``trustwatch.common.metrics`` (functions of column sums
and counts); this module only sums the outcome columns per (variant, probe, group) and applies
them: the papers' metrics (``METRICS``), then the shares that are counted rather than folded
into a metric (``COUNTED``: ``unparsed_rate``, ``scorer_error_rate``, ``degenerate_rate``).
A value counts every item the variant answered (``trustwatch_probe_metric``), where a
divergence row counts only the items both variants answered.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from trustwatch.common.groups import OVERALL
from trustwatch.common.metrics import counted_for, metrics_for


def aggregate(outcome_rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``[{"variant", "probe", "metric", "group", "value", "n"}]``, group ``all`` for the overall value.

    ``n`` is the number of items that have the metric's first outcome column (for BBQ
    ``accuracy_ambig``: the ambiguous items). ``value`` is None when the metric is
    undefined on the items (a BBQ bias score with no non-unknown answer). Rows without a
    ``variant`` are grouped under variant ``""``. Rows come out sorted by variant, probe,
    metric, then group (``all`` first).
    """
    # (variant, probe, group) -> column -> [sum, count]
    sums: dict[tuple[str, str, str], dict[str, list[float]]] = {}
    for row in outcome_rows:
        variant, probe, group = str(row.get("variant", "")), str(row["probe"]), str(row["group"])
        value = float(row["value"])
        for key in ((variant, probe, group), (variant, probe, OVERALL)):
            cell = sums.setdefault(key, {}).setdefault(str(row["metric"]), [0.0, 0])
            cell[0] += value
            cell[1] += 1
    out: list[dict[str, Any]] = []
    for (variant, probe, group), columns in sums.items():
        column_sums = {name: np.asarray(total) for name, (total, _) in columns.items()}
        column_counts = {name: np.asarray(count) for name, (_, count) in columns.items()}
        for metric in metrics_for(probe) + counted_for(probe):
            if not all(name in columns for name in metric.columns):
                continue
            with np.errstate(invalid="ignore", divide="ignore"):
                value = float(metric.estimate(column_sums, column_counts))
            out.append(_row(variant, probe, metric.name, group, value, columns[metric.columns[0]][1]))
    out.sort(key=lambda r: (r["variant"], r["probe"], r["metric"], r["group"] != OVERALL, r["group"]))
    return out


def _row(variant: str, probe: str, metric: str, group: str, value: float, n: float) -> dict[str, Any]:
    return {
        "variant": variant,
        "probe": probe,
        "metric": metric,
        "group": group,
        "value": value if math.isfinite(value) else None,
        "n": int(n),
    }
