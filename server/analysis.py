"""From stored outcomes to what users read: per-variant metrics, paired divergence, verdicts.

The one place where the service, ``trustwatch run`` and the CLI (``diff``, ``gate``) turn
outcome rows into numbers, with the policy's baseline, confidence, resamples, seed and mode
unless the caller overrides them; the statistics themselves live in ``trustwatch.monitors``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from trustwatch.monitors.divergence import DivergenceRow, Mode, available_metrics, divergence
from trustwatch.monitors.gate import GateReason, Verdict, evaluate_gate
from trustwatch.monitors.outcomes import OutcomeError, OutcomeTable
from trustwatch.monitors.policy import Policy
from trustwatch.probes.aggregate import aggregate


@dataclass
class Analysis:
    metrics: list[dict[str, Any]] = field(default_factory=list)
    divergence: list[DivergenceRow] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Why a candidate has no divergence or verdict yet (nothing paired, say)."""

    def verdict_of(self, candidate: str) -> Verdict | None:
        return next((v for v in self.verdicts if v.candidate == candidate), None)

    def verdict_or_pending(self, baseline: str, candidate: str, mode: str) -> Verdict:
        """The candidate's verdict, or :func:`pending_verdict` before any paired outcome."""
        return self.verdict_of(candidate) or pending_verdict(baseline, candidate, mode)

    def divergence_of(self, candidate: str, probe: str = "", group: str = "") -> list[DivergenceRow]:
        """The candidate's divergence rows; an empty ``probe`` or ``group`` keeps every one."""
        return [
            row
            for row in self.divergence
            if row.candidate == candidate and (not probe or row.probe == probe) and (not group or row.group == group)
        ]


NO_DATA = "no_data"
"""The status of the one reason of a pending verdict."""


def pending_verdict(baseline: str, candidate: str, mode: str) -> Verdict:
    """The verdict of a candidate with no paired outcome yet: INCONCLUSIVE, one ``no_data`` reason."""
    reason = GateReason(rule="", utility=False, tolerance=0.0, min_items=0, status=NO_DATA,  # type: ignore[arg-type]
                     reason="no paired outcomes yet", group="")
    return Verdict(baseline=baseline, candidate=candidate, verdict="INCONCLUSIVE", degenerate=False,
                   mode=mode, reasons=[reason], rows=[], fdr={})  # type: ignore[arg-type]


def candidate_divergence(
    table: OutcomeTable,
    baseline: str,
    candidate: str,
    policy: Policy,
    mode: str | None = None,
    *,
    all_outcomes: bool = False,
) -> list[DivergenceRow]:
    """The candidate's divergence rows at the policy's confidence, resamples, seed and
    ``optimize_at``, in ``mode`` (default: the policy's). ``all_outcomes``: also the outcome
    columns the paper metrics already aggregate. Raises :class:`OutcomeError` when unpaired."""
    specs = None
    if all_outcomes:
        specs = [s for probe in table.variant_probes(candidate) for s in available_metrics(table, probe, all_outcomes=True)]
    return divergence(
        table, baseline, candidate, metrics=specs, confidence=policy.confidence, resamples=policy.resamples,
        seed=policy.seed, mode=cast(Mode, mode or policy.mode), optimize_at=policy.optimize_at,
    )


def check_baseline(table: OutcomeTable, baseline: str) -> None:
    """Raise :class:`OutcomeError` when the outcomes have no variant ``baseline``."""
    if baseline not in table.variants:
        raise OutcomeError(
            f"unknown baseline variant {baseline!r}; the outcomes have {', '.join(table.variants)}", table.source
        )


def analyse(
    rows: Sequence[Mapping[str, Any]],
    baseline: str,
    candidates: Sequence[str],
    policy: Policy,
    mode: str | None = None,
    expected_probes: Collection[str] = (),
) -> Analysis:
    """Metrics of every variant, and for each candidate with paired items its divergence and verdict.
    ``expected_probes``: the probes configured (:func:`~trustwatch.monitors.gate.evaluate_gate`)."""
    result = Analysis(metrics=aggregate(rows))
    mode = mode or policy.mode
    if not rows:
        return result
    try:
        table = OutcomeTable.from_rows(rows, source="store")
    except OutcomeError as error:
        result.notes.append(f"no divergence or verdict: {error}")
        return result
    if baseline not in table.variants:
        result.notes.append(f"baseline {baseline!r} has no outcomes yet")
        return result
    for candidate in candidates:
        if candidate not in table.variants:
            result.notes.append(f"candidate {candidate!r} has no outcomes yet")
            continue
        try:
            found, verdict = compare(table, baseline, candidate, policy, mode, expected_probes)
            result.divergence += found
            result.verdicts.append(verdict)
        except OutcomeError as error:
            result.notes.append(f"{candidate}: {error}")
    return result


def compare(
    table: OutcomeTable, baseline: str, candidate: str, policy: Policy, mode: str | None = None,
    expected_probes: Collection[str] = (),
) -> tuple[list[DivergenceRow], Verdict]:
    """The candidate's divergence rows and its verdict, both in ``mode`` (default: the policy's),
    so that the bounds shown are the ones the verdict reads. Raises :class:`OutcomeError`."""
    found = candidate_divergence(table, baseline, candidate, policy, mode)
    [verdict] = evaluate_gate(
        table, policy, cast(Mode, mode or policy.mode), baseline=baseline, candidates=[candidate], computed=found,
        expected_probes=expected_probes,
    )
    return found, verdict


def diff_rows(
    table: OutcomeTable,
    policy: Policy,
    mode: str | None = None,
    *,
    baseline: str | None = None,
    candidates: Sequence[str] | None = None,
    all_outcomes: bool = False,
) -> tuple[str, list[DivergenceRow]]:
    """The baseline (default: the policy's) and the divergence rows of every candidate (default:
    every other variant), as the service computes them. Raises :class:`OutcomeError`."""
    baseline = baseline or policy.baseline
    names = list(candidates or [v for v in table.variants if v != baseline])
    check_baseline(table, baseline)
    rows: list[DivergenceRow] = []
    for candidate in names:
        table.check_pairing(baseline, candidate)
        rows += candidate_divergence(table, baseline, candidate, policy, mode, all_outcomes=all_outcomes)
    return baseline, rows


def gate_verdicts(
    table: OutcomeTable,
    policy: Policy,
    mode: str | None = None,
    *,
    baseline: str | None = None,
    candidates: Sequence[str] | None = None,
    expected_probes: Collection[str] = (),
) -> list[Verdict]:
    """One verdict per candidate (default: every variant but the baseline, default the policy's),
    as the service computes them. Raises :class:`OutcomeError`."""
    baseline = baseline or policy.baseline
    check_baseline(table, baseline)
    names = list(candidates) if candidates is not None else [v for v in table.variants if v != baseline]
    if not names:
        raise OutcomeError(f"no candidate variant besides baseline {baseline!r}", table.source)
    return [compare(table, baseline, candidate, policy, mode, expected_probes)[1] for candidate in names]
