"""Prometheus export: the one module that maps trustwatch's state to metric families.

Names are a contract (dashboards, alerts and Argo Rollouts read them):

- ``trustwatch_probe_metric{variant,probe,metric,group}``: current estimate (group ``all`` = overall)
  over every item the variant answered, with ``trustwatch_probe_metric_items`` (how many);
- ``trustwatch_divergence{baseline,candidate,probe,metric,group,scale}``: degradation, positive = worse,
  with ``trustwatch_divergence_lower`` / ``trustwatch_divergence_upper`` for its bounds and, for a row
  the gate tests, ``trustwatch_divergence_fdr_lower`` (the FDR-adjusted lower bound its FAIL reads);
  ``trustwatch_divergence_baseline_value`` / ``_candidate_value`` / ``_items``: the row's values and
  item count over the paired items only. For a metric that a policy rule gates these are the gate's
  own rows: in the rule's unit (``scale`` = ``relative`` or ``absolute``), at the rule's confidence,
  for the groups the rule counts only; any other metric: the analysis rows (absolute);
- ``trustwatch_gate_verdict{candidate,verdict}``: 1 for the current verdict, 0 for the others;
- ``trustwatch_gate_tolerance{candidate,probe,metric,scale}``: the rule's tolerance, in its unit;
- ``trustwatch_variant_ready{variant}``: 1 when the variant is loaded;
- ``trustwatch_ready``: 1 when the service is ready for traffic, and ``trustwatch_not_ready{reason}``:
  1 for each reason it is not (``loading``, ``baseline``, ``store`` while the store cannot be written, ``draining``);
- ``trustwatch_probe_items_total{variant,probe}``, ``trustwatch_replay_cycles_total``,
  ``trustwatch_replay_cycle_seconds``, ``trustwatch_backend_request_seconds{variant,kind}``,
  ``trustwatch_errors_total{variant,stage}``, ``trustwatch_live_requests_in_flight{variant}``,
  ``trustwatch_live_requests_shed_total{variant}`` (calls refused with RESOURCE_EXHAUSTED because
  ``limits.max_queued_calls`` were already waiting or running).

The series that carry metric values (the first four and ``trustwatch_gate_tolerance``) are
declared with the metric registry in ``trustwatch.common.metrics``; ``trustwatch metrics`` lists
which metric appears in which. Label values come only from the config (variant names), the policy and the probe sets'
bounded group lists, never from request text. The gauges are read from the latest
analysis snapshot at scrape time (a custom collector), so a scrape never sees a half-updated set.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from trustwatch.common.metrics import (
    DIVERGENCE,
    DIVERGENCE_BASELINE_VALUE,
    DIVERGENCE_CANDIDATE_VALUE,
    DIVERGENCE_FDR_LOWER,
    DIVERGENCE_ITEMS,
    DIVERGENCE_LOWER,
    DIVERGENCE_UPPER,
    GATE_TOLERANCE,
    NOT_READY,
    PROBE_METRIC,
    PROBE_METRIC_ITEMS,
    READY,
    Series,
    scale_of,
)
from trustwatch.monitors.divergence import DivergenceRow
from trustwatch.server.analysis import Analysis
from trustwatch.server.readiness import Readiness

VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE")


@dataclass
class Snapshot:
    baseline: str = ""
    analysis: Analysis = field(default_factory=Analysis)
    variants_ready: dict[str, bool] = field(default_factory=dict)
    candidates: list[str] = field(default_factory=list)
    tolerances: list[tuple[str, str, str, float, str]] = field(default_factory=list)
    """(candidate, probe, metric, tolerance, scale) for every gated pair."""


class _SnapshotCollector(Collector):
    def __init__(self, exporter: Exporter) -> None:
        self.exporter = exporter

    def collect(self) -> Iterable[Metric]:
        return self.exporter.snapshot_metrics()


class Exporter:
    """Holds the metric families; the replay engine and the service core feed it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._lock = threading.Lock()
        self._snapshot = Snapshot()
        self.readiness: Readiness | None = None
        """The service's readiness, read at scrape time (set by the service core)."""
        self._reasons_seen: set[str] = set()
        self.items = Counter(
            "trustwatch_probe_items", "Probe items answered, per variant and probe.", ["variant", "probe"],
            registry=self.registry,
        )
        self.cycles = Counter("trustwatch_replay_cycles", "Replay cycles completed.", registry=self.registry)
        self.cycle_seconds = Histogram(
            "trustwatch_replay_cycle_seconds", "Wall time of one replay cycle (all variants, one slice).",
            buckets=(0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000), registry=self.registry,
        )
        self.request_seconds = Histogram(
            "trustwatch_backend_request_seconds", "Wall time of one backend batch call.", ["variant", "kind"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60), registry=self.registry,
        )
        self.errors = Counter(
            "trustwatch_errors", "Errors counted, per variant and stage (backend, scorer, probe, "
            "scorer_error, unparsed; with variant \"\": replay when a replay cycle itself fails, store when the "
            "results store cannot be written).", ["variant", "stage"], registry=self.registry,
        )
        self.live_in_flight = Gauge(
            "trustwatch_live_requests_in_flight", "Live Generate/Score calls received and not yet answered.",
            ["variant"], registry=self.registry,
        )
        self.live_shed = Counter(
            "trustwatch_live_requests_shed", "Live Generate/Score calls shed (RESOURCE_EXHAUSTED) because "
            "limits.max_queued_calls were already waiting or running.", ["variant"], registry=self.registry,
        )
        self.served_model_changes = Counter(
            "trustwatch_served_model_changes", "Times a served (openai) variant's server was found serving another "
            "model under the same name (GET /v1/models: root, parent, max_model_len, meta); the variant's outcomes "
            "then start afresh.", ["variant"], registry=self.registry,
        )
        self.registry.register(_SnapshotCollector(self))

    # -- the ReplayObserver protocol -------------------------------------------------------

    def backend_request(self, variant: str, request_kind: str, seconds: float) -> None:
        self.request_seconds.labels(variant, request_kind).observe(seconds)

    def shed(self, variant: str) -> None:
        self.live_shed.labels(variant).inc()

    def items_done(self, variant: str, probe: str, count: int) -> None:
        self.items.labels(variant, probe).inc(count)

    def error(self, variant: str, stage: str) -> None:
        self.errors.labels(variant, stage).inc()

    def served_model_changed(self, variant: str) -> None:
        self.served_model_changes.labels(variant).inc()

    def cycle(self, seconds: float) -> None:
        self.cycles.inc()
        self.cycle_seconds.observe(seconds)

    # -- snapshot gauges -------------------------------------------------------------------

    def publish(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._snapshot = snapshot

    def snapshot_metrics(self) -> Iterator[Metric]:
        with self._lock:
            snap = self._snapshot
        probe_metric, probe_items = _family(PROBE_METRIC), _family(PROBE_METRIC_ITEMS)
        for row in snap.analysis.metrics:
            if row["value"] is not None and math.isfinite(row["value"]):
                key = [row["variant"], row["probe"], row["metric"], row["group"]]
                probe_metric.add_metric(key, row["value"])
                probe_items.add_metric(key, float(row["n"]))
        yield from (probe_metric, probe_items)
        value, lower, upper = _family(DIVERGENCE), _family(DIVERGENCE_LOWER), _family(DIVERGENCE_UPPER)
        fdr_lower = _family(DIVERGENCE_FDR_LOWER)
        paired = _family(DIVERGENCE_BASELINE_VALUE), _family(DIVERGENCE_CANDIDATE_VALUE), _family(DIVERGENCE_ITEMS)
        for row, adjusted in exported_rows(snap.analysis):
            key = [row.baseline, row.candidate, row.probe, row.metric, row.group]
            scaled = [*key, scale_of(row.relative)]
            for family, number in ((value, row.degradation), (lower, row.lower), (upper, row.upper),
                                   (fdr_lower, adjusted)):
                if number is not None and math.isfinite(number):
                    family.add_metric(scaled, number)
            for family, number in zip(paired, (row.baseline_value, row.candidate_value, float(row.n_items)),
                                      strict=True):
                if math.isfinite(number):
                    family.add_metric(key, number)
        yield from (value, lower, upper, fdr_lower, *paired)
        verdict = GaugeMetricFamily("trustwatch_gate_verdict", "1 for the candidate's current gate verdict.",
                                    labels=["candidate", "verdict"])
        for candidate in snap.candidates:
            current = snap.analysis.verdict_of(candidate)
            for name in VERDICTS:
                verdict.add_metric([candidate, name], 1.0 if current is not None and current.verdict == name else 0.0)
        yield verdict
        tolerance = _family(GATE_TOLERANCE)
        for candidate, probe, metric, number, scale in snap.tolerances:
            tolerance.add_metric([candidate, probe, metric, scale], number)
        yield tolerance
        ready = GaugeMetricFamily("trustwatch_variant_ready", "1 when the variant is loaded and serving.",
                                  labels=["variant"])
        for name, is_ready in snap.variants_ready.items():
            ready.add_metric([name], 1.0 if is_ready else 0.0)
        yield ready
        if self.readiness is not None:
            reasons = self.readiness.reasons()
            with self._lock:
                self._reasons_seen |= set(reasons)
                seen = sorted(self._reasons_seen)
            service = _family(READY)
            service.add_metric([], 0.0 if reasons else 1.0)
            yield service
            not_ready = _family(NOT_READY)
            for reason in seen:
                not_ready.add_metric([reason], 1.0 if reason in reasons else 0.0)
            yield not_ready


def _family(series: Series) -> GaugeMetricFamily:
    """The gauge family of a series that carries metric values (declared in ``common/metrics.py``)."""
    return GaugeMetricFamily(series.name, series.help, labels=list(series.labels))


def snapshot_of(
    baseline: str, analysis: Analysis, policy: Any, candidates: Iterable[str], variants_ready: dict[str, bool]
) -> Snapshot:
    """The snapshot the service publishes after each analysis."""
    names = list(candidates)
    return Snapshot(
        baseline=baseline,
        analysis=analysis,
        variants_ready=dict(variants_ready),
        candidates=names,
        tolerances=tolerances(policy, names, analysis),
    )


def exported_rows(analysis: Analysis) -> list[tuple[DivergenceRow, float | None]]:
    """The divergence rows that ``trustwatch_divergence*`` carries, each with its FDR-adjusted
    lower bound (None where the gate does not test it): for a (candidate, probe, metric) that a
    policy rule gates, the gate's own counted rows (in the rule's unit and confidence, only the
    groups the rule counts); for any other, the analysis rows."""
    out: list[tuple[DivergenceRow, float | None]] = []
    gated: set[tuple[str, str, str]] = set()
    for verdict in analysis.verdicts:
        for reason in verdict.rows:
            probe, _, metric = reason.rule.partition("/")
            gated.add((verdict.candidate, probe, metric))
            if reason.divergence is not None:
                out.append((reason.divergence, reason.fdr_lower))
    out += [(row, None) for row in analysis.divergence if (row.candidate, row.probe, row.metric) not in gated]
    return out


def tolerances(policy: Any, candidates: Iterable[str], analysis: Analysis) -> list[tuple[str, str, str, float, str]]:
    """(candidate, probe, metric, tolerance, scale) for each policy rule whose counted rows are
    exported (see :func:`exported_rows`): the tolerance in the unit of the rows it is read against."""
    out = []
    for candidate in candidates:
        verdict = analysis.verdict_of(candidate)
        if verdict is None:
            continue
        exported = {reason.rule for reason in verdict.rows if reason.divergence is not None}
        for rule in policy.rules:
            if rule.key in exported:
                out.append((candidate, rule.probe, rule.metric, float(rule.tolerance), scale_of(rule.relative)))
    return out
