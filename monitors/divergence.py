"""Paired divergence of a candidate against the baseline, per probe, metric and group.

For each (probe, metric, group) the difference candidate - baseline is taken on the items both
variants answered, and *signed* so that a positive degradation is worse (the metric declares
which direction is worse). The interval of the degradation comes from

- ``fixed`` mode: a paired bootstrap over items, or over template clusters where items share
  a template (:mod:`trustwatch.monitors.bootstrap`), expanded percentile interval (the
  small-sample correction of :func:`expanded_alpha`, which holds its level with few clusters); ratio metrics
  (perplexity, perplexity gap, BBQ bias) are recomputed from resampled item-level sums, never
  from the two point estimates. A binary outcome averaged as a proportion (no clusters,
  absolute difference) gets Newcombe's paired interval instead, plus McNemar's exact test,
  the discordant counts and the flip rate (:mod:`trustwatch.monitors.intervals`).
- ``sequential`` mode: an asymptotic confidence sequence (:mod:`trustwatch.monitors.sequential`),
  valid however often it is looked at.

A metric is one of ``METRICS`` (aggregated by its definition) or any other outcome column of
the probe (an *outcome-level* metric, aggregated by its mean); both are declared in
:mod:`trustwatch.common.metrics`, with the method that tests them. A row's baseline and candidate
values count only the paired items, unlike the per-variant values of ``probes/aggregate.py``.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, fields
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
from scipy import stats

from trustwatch.common.groups import OVERALL
from trustwatch.common.metrics import METRICS_BY_KEY, MetricDef, Worse, metrics_for, outcome_metric
from trustwatch.monitors import bootstrap, sequential
from trustwatch.monitors.intervals import PairedCounts, invert_lower, mcnemar_exact, newcombe_paired, z_of
from trustwatch.monitors.outcomes import OutcomeTable

_NORMAL = NormalDist()
Mode = Literal["fixed", "sequential"]
MODES: tuple[Mode, ...] = ("fixed", "sequential")

def resolve_metric(probe: str, name: str, worse: Worse | None = None) -> MetricDef:
    """A paper metric from ``METRICS`` or else the outcome-level mean of column ``name``.

    ``worse`` overrides the direction of an outcome-level metric; for a paper metric it must
    agree with the definition.
    """
    definition = METRICS_BY_KEY.get((probe, name))
    if definition is None:
        return outcome_metric(probe, name, worse)
    if worse is not None and worse != definition.worse:
        raise ValueError(f"{probe}/{name}: worse is {definition.worse!r} by definition, not {worse!r}")
    return definition


def available_metrics(table: OutcomeTable, probe: str, *, all_outcomes: bool = False) -> list[MetricDef]:
    """The paper metrics whose columns the probe has, then its outcome columns no paper metric reads
    (or every outcome column with ``all_outcomes``)."""
    present = set(table.columns(probe))
    specs = [m for m in metrics_for(probe) if set(m.columns) <= present]
    consumed = {column for m in metrics_for(probe) for column in m.columns}
    specs += [outcome_metric(probe, c) for c in sorted(present) if all_outcomes or c not in consumed]
    return specs


# --------------------------------------------------------------------------------------- samplers
class _Sampler:
    """How a row's interval is recomputed at another level, and inverted into a p-value."""

    def bounds(self, alpha: float) -> tuple[float, float]:
        raise NotImplementedError

    def p_value(self, threshold: float) -> float:
        """Two-sided-interval p-value of H0: degradation <= threshold: the lower bound at level
        ``1 - alpha`` exceeds ``threshold`` exactly when this is below ``alpha``."""
        raise NotImplementedError

    def units_needed(self, alpha: float, estimate: float, threshold: float) -> float | None:
        """Estimated total units at which the interval clears ``threshold`` on the side the
        estimate lies, the estimate staying where it is; None when it cannot be estimated."""
        raise NotImplementedError


def _scaled_units(
    units: float, bounds: tuple[float, float], estimate: float, threshold: float
) -> float | None:
    """Fixed-n intervals shrink as 1/sqrt(n): the units at which the relevant half-width equals the margin."""
    margin = abs(estimate - threshold)
    half = bounds[1] - estimate if estimate < threshold else estimate - bounds[0]
    if margin == 0.0 or not math.isfinite(half):
        return None
    return units * max(half / margin, 1.0) ** 2


def expanded_alpha(alpha: float, units: int) -> float:
    """The percentile level that the expanded percentile interval reads for a ``1 - alpha`` interval.

    Hesterberg 2015 ("What teachers should know about the bootstrap", The American Statistician
    69(4):371-386, Sec. 5.4): the percentile interval is too narrow in small samples, by the
    bootstrap's ``(n - 1) / n`` variance and by a normal quantile where a t quantile belongs; the
    expanded percentile interval reads the replicates at the normal tail of
    ``sqrt(n / (n - 1)) * t_{n-1, 1 - alpha/2}``. ``units`` is the number of resampled units,
    template clusters where items share templates, so the correction matters with few clusters
    (the small-sample correction of cluster-robust inference: Cameron, Gelbach & Miller 2008,
    "Bootstrap-based improvements for inference with clustered errors", REStat 90(3):414-427,
    use ``G / (G - 1)`` and t with ``G - 1`` degrees of freedom).
    """
    if units < 2 or not 0.0 < alpha < 1.0:
        return alpha
    z = math.sqrt(units / (units - 1.0)) * float(stats.t.isf(alpha / 2.0, units - 1))
    return float(2.0 * stats.norm.sf(z))


def unexpanded_alpha(expanded: float, units: int) -> float:
    """Inverse of :func:`expanded_alpha`: the nominal level whose expanded percentile level is ``expanded``."""
    if units < 2 or not 0.0 < expanded < 1.0:
        return expanded
    z = float(stats.norm.isf(expanded / 2.0)) / math.sqrt(units / (units - 1.0))
    return float(2.0 * stats.t.sf(z, units - 1))


@dataclass
class _Bootstrap(_Sampler):
    """Expanded percentile interval (:func:`expanded_alpha`) of the paired (cluster) bootstrap."""

    replicates: np.ndarray
    units: int

    def bounds(self, alpha: float) -> tuple[float, float]:
        finite = self.replicates[np.isfinite(self.replicates)]
        if finite.size == 0:
            return math.nan, math.nan
        level = expanded_alpha(alpha, self.units)
        low, high = np.quantile(finite, [level / 2.0, 1.0 - level / 2.0])
        return float(low), float(high)

    def p_value(self, threshold: float) -> float:
        finite = self.replicates[np.isfinite(self.replicates)]
        if finite.size == 0:
            return 1.0
        below = int(np.count_nonzero(finite <= threshold))
        p = min(1.0, 2.0 * (below + 1) / (finite.size + 1))
        if below == 0:
            # Beyond every replicate the resolution 2 / (B + 1) would cap the evidence (and keep
            # a lone strong row of a large family from passing BH): extrapolate a normal tail.
            spread = float(np.std(finite))
            if spread > 0:
                p = min(p, 2.0 * (1.0 - _NORMAL.cdf((float(np.mean(finite)) - threshold) / spread)))
            else:
                p = 0.0
        return unexpanded_alpha(float(p), self.units)

    def units_needed(self, alpha: float, estimate: float, threshold: float) -> float | None:
        return _scaled_units(self.units, self.bounds(alpha), estimate, threshold)


@dataclass
class _Newcombe(_Sampler):
    counts: PairedCounts
    scale: float
    sign: float

    def _interval(self, z: float) -> tuple[float, float]:
        low, high = newcombe_paired(self.counts, z)
        low, high = self.sign * self.scale * low, self.sign * self.scale * high
        return min(low, high), max(low, high)

    def bounds(self, alpha: float) -> tuple[float, float]:
        return self._interval(z_of(alpha))

    def p_value(self, threshold: float) -> float:
        estimate = self.sign * self.scale * self.counts.difference
        return invert_lower(lambda z: self._interval(z)[0], threshold, estimate)

    def units_needed(self, alpha: float, estimate: float, threshold: float) -> float | None:
        return _scaled_units(self.counts.n, self.bounds(alpha), estimate, threshold)


@dataclass
class _Sequence(_Sampler):
    estimate: float
    sd: float
    units: int
    rho: float

    def bounds(self, alpha: float) -> tuple[float, float]:
        half = self.sd * sequential.radius(self.units, alpha, self.rho)
        return self.estimate - half, self.estimate + half

    def p_value(self, threshold: float) -> float:
        return sequential.anytime_p_value(self.estimate - threshold, self.sd, self.units, self.rho)

    def units_needed(self, alpha: float, estimate: float, threshold: float) -> float | None:
        margin = abs(estimate - threshold)
        if margin == 0.0 or not math.isfinite(self.sd):
            return None
        return sequential.units_for_radius(
            margin / self.sd if self.sd > 0 else math.inf, alpha, self.rho, self.units
        )


# ------------------------------------------------------------------------------------------- rows
@dataclass
class DivergenceRow:
    """One (candidate, probe, metric, group): values, the signed degradation and its interval.

    ``degradation`` is positive when the candidate is worse: ``candidate - baseline`` (or
    ``candidate / baseline - 1`` when ``relative``), negated for metrics where lower is worse.
    ``lower``/``upper`` bound the degradation at ``confidence``.
    """

    baseline: str
    candidate: str
    probe: str
    metric: str
    group: str
    worse: Worse
    relative: bool
    outcome_level: bool
    n_items: int
    n_units: int
    """Resampling units: template clusters when items share templates, else items."""
    baseline_value: float
    candidate_value: float
    difference: float
    """candidate - baseline, in the metric's unit (unsigned)."""
    degradation: float
    lower: float
    upper: float
    confidence: float
    method: str
    unit: str = ""
    flips_up: int | None = None
    """Binary outcomes: items that went 0 -> 1 (baseline 0, candidate 1)."""
    flips_down: int | None = None
    flip_rate: float | None = None
    mcnemar_p: float | None = None
    resamples: int | None = None
    undefined_reason: str = ""
    """Why the degradation or its interval has no value (empty when both have one)."""
    sampler: _Sampler | None = field(default=None, repr=False, compare=False)

    def bounds(self, alpha: float) -> tuple[float, float]:
        """The interval of the degradation at level ``1 - alpha``."""
        if self.sampler is None:
            return math.nan, math.nan
        return self.sampler.bounds(alpha)

    def p_value(self, threshold: float) -> float:
        """p-value of H0: degradation <= threshold (dual to :meth:`bounds`)."""
        if self.sampler is None or not math.isfinite(self.degradation):
            return 1.0
        return self.sampler.p_value(threshold)

    def items_needed(self, threshold: float, alpha: float) -> int | None:
        """Estimated further items before the interval clears ``threshold`` on one side, at the
        current estimate; None when the estimate sits on the threshold."""
        if self.sampler is None or not math.isfinite(self.degradation):
            return None
        total = self.sampler.units_needed(alpha, self.degradation, threshold)
        if total is None or total > 1e12:
            return None
        return math.ceil(max(total - self.n_units, 0.0) * self.n_items / max(self.n_units, 1))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for item in fields(self):
            if item.name == "sampler":
                continue
            value = getattr(self, item.name)
            out[item.name] = None if isinstance(value, float) and not math.isfinite(value) else value
        return out


# ---------------------------------------------------------------------------------------- compute
def _rng(seed: int, *parts: str) -> np.random.Generator:
    return np.random.default_rng([seed, *(zlib.crc32(part.encode()) for part in parts)])


def _degradation_fn(
    spec: MetricDef, width: int, relative: bool
) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Maps sums laid out ``[baseline sums | candidate sums | counts]`` (``width`` columns each) to
    (baseline value, candidate value, signed degradation)."""
    sign = 1.0 if spec.worse == "higher" else -1.0

    def apply(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        base = {c: sums[..., k] for k, c in enumerate(spec.columns)}
        cand = {c: sums[..., width + k] for k, c in enumerate(spec.columns)}
        counts = {c: sums[..., 2 * width + k] for k, c in enumerate(spec.columns)}
        with np.errstate(all="ignore"):
            b = np.asarray(spec.estimate(base, counts), dtype=float)
            c = np.asarray(spec.estimate(cand, counts), dtype=float)
            change = c / b - 1.0 if relative else c - b
        return b, c, sign * change

    return apply


def _is_binary(*arrays: np.ndarray) -> bool:
    return all(bool(np.all((a == 0.0) | (a == 1.0))) for a in arrays)


def divergence(
    table: OutcomeTable,
    baseline: str,
    candidate: str,
    *,
    metrics: Iterable[MetricDef] | None = None,
    relative: Collection[tuple[str, str]] = (),
    confidence: float = 0.95,
    mode: Mode = "fixed",
    resamples: int = 2000,
    seed: int = 0,
    optimize_at: float = 1000.0,
) -> list[DivergenceRow]:
    """Rows for every metric (default: :func:`available_metrics` of every probe) and every group,
    the overall group ``all`` first. ``relative`` names the (probe, metric) pairs whose
    degradation is relative. ``optimize_at``: units at which a confidence sequence is tightest.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), not {confidence!r}")
    table.check_pairing(baseline, candidate)
    if metrics is None:
        specs = [s for probe in table.variant_probes(candidate) for s in available_metrics(table, probe)]
    else:
        specs = list(metrics)
    by_probe: dict[str, list[MetricDef]] = {}
    for spec in specs:
        by_probe.setdefault(spec.probe, []).append(spec)
    rows: list[DivergenceRow] = []
    for probe, probe_specs in by_probe.items():
        if probe not in table.probes:
            continue
        rows += _probe_rows(
            table,
            baseline,
            candidate,
            probe,
            probe_specs,
            set(relative),
            confidence,
            mode,
            resamples,
            seed,
            optimize_at,
        )
    return rows


def _probe_rows(
    table: OutcomeTable,
    baseline: str,
    candidate: str,
    probe: str,
    specs: Sequence[MetricDef],
    relative: set[tuple[str, str]],
    confidence: float,
    mode: Mode,
    resamples: int,
    seed: int,
    optimize_at: float,
) -> list[DivergenceRow]:
    alpha = 1.0 - confidence
    groups = table.groups(probe)
    clusters = table.clusters(probe)
    columns = sorted({c for spec in specs for c in spec.columns})
    base = {c: table.column(probe, baseline, c) for c in columns}
    cand = {c: table.column(probe, candidate, c) for c in columns}
    paired = {c: ~np.isnan(base[c]) & ~np.isnan(cand[c]) for c in columns}
    group_names = [OVERALL, *sorted(set(groups[np.logical_or.reduce([paired[c] for c in columns])]))]
    rows: list[DivergenceRow] = []
    for spec in specs:
        if not all(table.has(probe, v, c) for v in (baseline, candidate) for c in spec.columns):
            continue
        width = len(spec.columns)
        is_relative = (probe, spec.name) in relative
        apply = _degradation_fn(spec, width, is_relative)
        item_mask = np.logical_or.reduce([paired[c] for c in spec.columns])
        matrix = np.column_stack(
            [np.where(paired[c], base[c], 0.0) for c in spec.columns]
            + [np.where(paired[c], cand[c], 0.0) for c in spec.columns]
            + [paired[c].astype(float) for c in spec.columns]
        )
        for group in group_names:
            select = item_mask if group == OVERALL else item_mask & (groups == group)
            index = np.flatnonzero(select)
            if index.size == 0:
                continue
            units = bootstrap.unit_sums(matrix[index], None if clusters is None else clusters[index])
            totals = units.sum(axis=0)
            b_value, c_value, degradation = (float(x) for x in apply(totals))
            row = DivergenceRow(
                baseline=baseline,
                candidate=candidate,
                probe=probe,
                metric=spec.name,
                group=group,
                worse=spec.worse,
                relative=is_relative,
                outcome_level=spec.outcome_level,
                n_items=int(index.size),
                n_units=int(units.shape[0]),
                baseline_value=b_value,
                candidate_value=c_value,
                difference=c_value - b_value,
                degradation=degradation,
                lower=math.nan,
                upper=math.nan,
                confidence=confidence,
                method="undefined",
                unit=spec.unit,
            )
            # The declared method (common/metrics.py METHODS): McNemar for a proportion, and for a
            # one-column mean whose paired values all happen to be 0 or 1 (a proportion there).
            binary = spec.statistic != "ratio"
            if binary:
                (column,) = spec.columns
                b_items, c_items = base[column][index], cand[column][index]
                binary = _is_binary(b_items, c_items)
            if binary:
                row.flips_up = int(np.count_nonzero((b_items == 0) & (c_items == 1)))
                row.flips_down = int(np.count_nonzero((b_items == 1) & (c_items == 0)))
                row.flip_rate = (row.flips_up + row.flips_down) / row.n_items
                row.mcnemar_p = mcnemar_exact(row.flips_up, row.flips_down)
            if math.isfinite(degradation):
                row.sampler, row.method, row.resamples = _sampler(
                    row,
                    spec,
                    units,
                    apply,
                    mode,
                    resamples,
                    alpha,
                    optimize_at,
                    _rng(seed, probe, spec.name, group, candidate),
                    binary and not is_relative and row.n_units == row.n_items,
                    b_items if binary else None,
                    c_items if binary else None,
                )
                row.lower, row.upper = row.sampler.bounds(alpha)
            row.undefined_reason = _undefined_reason(row, spec, totals, width)
            rows.append(row)
    return rows


def _undefined_reason(row: DivergenceRow, spec: MetricDef, totals: np.ndarray, width: int) -> str:
    """Why the row has no degradation or no interval, naming the variant and the empty sums."""
    if math.isfinite(row.degradation) and math.isfinite(row.lower) and math.isfinite(row.upper):
        return ""
    where = f"{row.n_items} paired items of group {row.group!r}"
    for variant, value, offset in ((row.baseline, row.baseline_value, 0), (row.candidate, row.candidate_value, width)):
        if not math.isfinite(value):
            empty = [c for k, c in enumerate(spec.columns) if totals[offset + k] == 0.0]
            because = f": {' and '.join(empty)} sum to 0 there (a zero denominator)" if empty else ""
            return f"{spec.probe}/{spec.name} of {variant} is undefined on the {where}{because}"
    if row.relative and row.baseline_value == 0.0:
        return f"the baseline value is 0 on the {where}: a relative change is undefined"
    if not math.isfinite(row.degradation):
        return f"the degradation is undefined on the {where}"
    return f"no resample of the {where} gives a finite value, so the interval is undefined"


def _sampler(
    row: DivergenceRow,
    spec: MetricDef,
    units: np.ndarray,
    apply: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]],
    mode: Mode,
    resamples: int,
    alpha: float,
    optimize_at: float,
    rng: np.random.Generator,
    closed_form: bool,
    b_items: np.ndarray | None,
    c_items: np.ndarray | None,
) -> tuple[_Sampler, str, int | None]:
    if mode == "sequential":
        psi = sequential.influence(units, lambda sums: apply(sums)[2])
        sd = float(np.std(psi, ddof=1)) if psi.size > 1 else math.inf
        rho = sequential.mixture_rho(alpha, optimize_at)
        return _Sequence(row.degradation, sd, row.n_units, rho), "confidence-sequence", None
    if closed_form and b_items is not None and c_items is not None:
        both = int(np.count_nonzero((b_items == 1) & (c_items == 1)))
        counts = PairedCounts(
            both=both,
            first_only=int(row.flips_up or 0),
            second_only=int(row.flips_down or 0),
            neither=row.n_items - both - int(row.flips_up or 0) - int(row.flips_down or 0),
        )
        sign = 1.0 if spec.worse == "higher" else -1.0
        return _Newcombe(counts, spec.scale, sign), "newcombe", None
    replicates = apply(bootstrap.bootstrap_sums(units, resamples, rng))[2]
    method = "cluster-bootstrap" if row.n_units < row.n_items else "bootstrap"
    return _Bootstrap(replicates, row.n_units), method, resamples
