"""What the report shows, computed from the run files: metric grids, counts, changed generations."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trustwatch.common.groups import OVERALL
from trustwatch.monitors.outcomes import OutcomeTable

COUNTED_OUTCOMES = ("scorer_error", "unparsed")
"""Outcome columns counted per probe and variant (0/1 per item or per sample)."""


@dataclass(frozen=True)
class MetricGrid:
    """One metric of one probe: ``values[group][variant]`` and ``n[group][variant]``."""

    probe: str
    metric: str
    groups: list[str]
    variants: list[str]
    values: dict[str, dict[str, float | None]]
    n: dict[str, dict[str, int | None]]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def group_order(groups: Iterable[str]) -> list[str]:
    """``all`` first, then the groups in alphabetical order."""
    unique = set(groups)
    return ([OVERALL] if OVERALL in unique else []) + sorted(unique - {OVERALL})


def probes_in(metrics: Sequence[Mapping[str, Any]], *more: Iterable[str]) -> list[str]:
    """Probes in the order they first appear in the metrics, then any others."""
    names = [str(row["probe"]) for row in metrics]
    for extra in more:
        names += list(extra)
    return list(dict.fromkeys(names))


def metric_grids(
    metrics: Sequence[Mapping[str, Any]], probe: str, variants: Sequence[str]
) -> list[MetricGrid]:
    """The probe's metrics, in first-seen order, each as a group x variant grid."""
    rows = [row for row in metrics if row["probe"] == probe]
    grids = []
    for metric in dict.fromkeys(str(row["metric"]) for row in rows):
        mine = [row for row in rows if row["metric"] == metric]
        groups = group_order(str(row["group"]) for row in mine)
        shown = [v for v in variants if any(row["variant"] == v for row in mine)]
        values: dict[str, dict[str, float | None]] = {g: dict.fromkeys(shown) for g in groups}
        n: dict[str, dict[str, int | None]] = {g: dict.fromkeys(shown) for g in groups}
        for row in mine:
            if row["variant"] in shown:
                values[str(row["group"])][row["variant"]] = _number(row["value"])
                count = row.get("n")
                n[str(row["group"])][row["variant"]] = count if isinstance(count, int) else None
        grids.append(MetricGrid(probe, metric, groups, shown, values, n))
    return grids


def counted_outcomes(
    outcomes: OutcomeTable | None, probe: str, variants: Sequence[str]
) -> dict[str, dict[str, int]]:
    """``{column: {variant: count}}`` for the columns in COUNTED_OUTCOMES that the probe has."""
    if outcomes is None or probe not in outcomes.probes:
        return {}
    counts: dict[str, dict[str, int]] = {}
    for column in COUNTED_OUTCOMES:
        if column not in outcomes.columns(probe):
            continue
        counts[column] = {
            v: int(np.nansum(outcomes.column(probe, v, column)))
            for v in variants
            if outcomes.has(probe, v, column)
        }
    return counts


def item_counts(
    outcomes: OutcomeTable | None, metrics: Sequence[Mapping[str, Any]], probes: Sequence[str]
) -> dict[str, int]:
    """Items per probe: from the outcomes, else the largest ``n`` of the probe's overall rows."""
    counts: dict[str, int] = {}
    for probe in probes:
        if outcomes is not None and probe in outcomes.probes:
            counts[probe] = outcomes.n_items(probe)
            continue
        ns = [row.get("n") for row in metrics if row["probe"] == probe and row["group"] == OVERALL]
        ns = [n for n in ns if isinstance(n, int)]
        if ns:
            counts[probe] = max(ns)
    return counts


@dataclass(frozen=True)
class ChangedGeneration:
    probe: str
    item_id: str
    group: str
    sample: Any
    prompt: str
    baseline_text: str
    baseline_score: float
    candidate_text: str
    candidate_score: float

    @property
    def change(self) -> float:
        return self.candidate_score - self.baseline_score


def changed_generations(
    generations: Sequence[Mapping[str, Any]], probe: str, baseline: str, candidate: str, top: int = 8
) -> list[ChangedGeneration]:
    """The samples whose score moved most (absolute change) from ``baseline`` to ``candidate``.

    Samples are paired on ``(item_id, sample)``: the same prompt and the same seed; pairs where
    either score is null (a scorer failure) are left out. Ties keep the file order.
    """

    def key(row: Mapping[str, Any]) -> tuple[str, str]:
        return str(row["item_id"]), str(row.get("sample"))

    base = {key(row): row for row in generations if row["probe"] == probe and row["variant"] == baseline}
    pairs = []
    for row in generations:
        if row["probe"] != probe or row["variant"] != candidate:
            continue
        other = base.get(key(row))
        if other is None or row.get("score") is None or other.get("score") is None:
            continue
        pairs.append(
            ChangedGeneration(
                probe=probe,
                item_id=str(row["item_id"]),
                group=str(row.get("group", "")),
                sample=row.get("sample"),
                prompt=str(other.get("prompt", row.get("prompt", ""))),
                baseline_text=str(other["text"]),
                baseline_score=float(other["score"]),
                candidate_text=str(row["text"]),
                candidate_score=float(row["score"]),
            )
        )
    pairs.sort(key=lambda pair: -abs(pair.change))
    return [pair for pair in pairs[:top] if pair.change != 0.0]


def divergence_value(row: Mapping[str, Any]) -> float | None:
    """The signed degradation (positive = worse, as :mod:`trustwatch.monitors.divergence` defines it):
    ``value`` (report.json), else ``degradation`` (``DivergenceRow.to_dict``)."""
    return _number(row.get("value", row.get("degradation")))


def divergence_n(row: Mapping[str, Any]) -> int | None:
    n = row.get("n", row.get("n_items"))
    return n if isinstance(n, int) else None


def interval(row: Mapping[str, Any]) -> tuple[float | None, float | None]:
    return _number(row.get("lower")), _number(row.get("upper"))


def largest_changes(rows: Sequence[Mapping[str, Any]], top: int = 3) -> list[Mapping[str, Any]]:
    """Divergence rows whose interval lies wholly above 0 (a degradation), largest first."""

    def sort_key(row: Mapping[str, Any]) -> float:
        return -(divergence_value(row) or 0.0)

    worse = [r for r in rows if (interval(r)[0] or 0.0) > 0.0 and divergence_value(r) is not None]
    return sorted(worse, key=sort_key)[:top]
