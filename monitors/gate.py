"""The gate: PASS / FAIL / INCONCLUSIVE per candidate, with the rows that decided it.

For each candidate, every rule of the policy yields its counted rows (the overall value and
every group with ``groups: worst``; the overall value only with ``groups: overall``). Rows
with at least ``min_items`` paired items are *tested*: H0 "degradation <= tolerance", p-value
dual to the row's interval. All tested rows of a candidate form one family, and the false
discovery rate is controlled across it (:mod:`trustwatch.monitors.fdr`). Then

- FAIL when some row is rejected (its FDR-adjusted lower bound exceeds its tolerance); when a
  rejected row belongs to a utility rule the candidate FAILs as *degenerate*, whatever its
  safety rows say;
- PASS when every counted row has its minimum items, a value, and its upper bound within its
  tolerance (an intersection-union test: no multiplicity adjustment is needed for it,
  Berger 1982, Technometrics 24:295);
- INCONCLUSIVE otherwise, with the estimated further items the most demanding row needs.

An *undefined* row (its metric or interval has no value on the paired items: a zero
denominator, named in the row's ``undefined_reason``) counts as insufficient: it keeps the
verdict INCONCLUSIVE, its reason says why it has no value, and the verdict's notes list it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from trustwatch.common.groups import OVERALL
from trustwatch.monitors.divergence import DivergenceRow, Mode, divergence, resolve_metric
from trustwatch.monitors.fdr import PROCEDURE_NAMES, weighted_fdr
from trustwatch.monitors.outcomes import OutcomeError, OutcomeTable
from trustwatch.monitors.policy import Policy, Rule

Decision = Literal["PASS", "FAIL", "INCONCLUSIVE"]
Status = Literal["fail", "pass", "undecided", "insufficient", "undefined", "not measured"]
EXIT_CODES: dict[Decision, int] = {"PASS": 0, "FAIL": 1, "INCONCLUSIVE": 2}


@dataclass
class GateReason:
    """A counted row: the divergence row, the rule's tolerance, and what the gate made of it."""

    rule: str
    utility: bool
    tolerance: float
    min_items: int
    status: Status
    reason: str
    divergence: DivergenceRow | None = None
    group: str = OVERALL
    p_value: float | None = None
    q_value: float | None = None
    """FDR-adjusted p-value (family-wide)."""
    fdr_lower: float | None = None
    """Tested rows: the lower bound at the false-coverage-adjusted level ``1 - max(R, 1) alpha / m``
    (R rejected of m tested; Benjamini & Yekutieli 2005), the bound the FAIL decision reads: it
    exceeds the tolerance for the rejected rows, and with the p-value dual to the interval only
    for them. Exported as ``trustwatch_divergence_fdr_lower``."""
    items_needed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule,
            "group": self.group,
            "utility": self.utility,
            "tolerance": self.tolerance,
            "min_items": self.min_items,
            "status": self.status,
            "reason": self.reason,
            "p_value": self.p_value,
            "q_value": self.q_value,
            "fdr_lower": self.fdr_lower,
            "items_needed": self.items_needed,
        }
        out["divergence"] = None if self.divergence is None else self.divergence.to_dict()
        return out


@dataclass
class Verdict:
    baseline: str
    candidate: str
    verdict: Decision
    degenerate: bool
    mode: Mode
    reasons: list[GateReason]
    """The rows that decided the verdict."""
    rows: list[GateReason]
    """Every counted row."""
    fdr: dict[str, Any]
    items_needed: int | None = None
    """INCONCLUSIVE: estimated further items per group that the most demanding row needs."""
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "candidate": self.candidate,
            "verdict": self.verdict,
            "degenerate": self.degenerate,
            "mode": self.mode,
            "items_needed": self.items_needed,
            "fdr": self.fdr,
            "notes": self.notes,
            "reasons": [row.to_dict() for row in self.reasons],
            "rows": [row.to_dict() for row in self.rows],
        }


def exit_code(verdicts: Sequence[Verdict]) -> int:
    """1 when any candidate FAILs, else 2 when any is INCONCLUSIVE, else 0."""
    decisions = {v.verdict for v in verdicts}
    for decision in ("FAIL", "INCONCLUSIVE"):
        if decision in decisions:
            return EXIT_CODES[decision]  # type: ignore[index]
    return EXIT_CODES["PASS"]


def _counted(rule: Rule, rows: list[DivergenceRow]) -> tuple[list[DivergenceRow], list[str]]:
    """The rule's counted rows, and the named groups that have none."""
    if rule.groups == "overall":
        return [r for r in rows if r.group == OVERALL], []
    if rule.groups == "worst":
        return rows, []
    named = set(rule.groups)
    found = [r for r in rows if r.group in named]
    return found, sorted(named - {r.group for r in found})


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def evaluate_gate(
    table: OutcomeTable,
    policy: Policy,
    mode: Mode | None = None,
    *,
    baseline: str | None = None,
    candidates: Iterable[str] | None = None,
    computed: Sequence[DivergenceRow] = (),
    expected_probes: Collection[str] = (),
) -> list[Verdict]:
    """One verdict per candidate (default: every variant except the baseline).

    ``expected_probes``: the probes the run or service is configured to answer. A rule of one of
    them that the baseline or the candidate has no outcome of yet is a "not measured" row that
    holds the verdict INCONCLUSIVE (``required`` in effect): a canary is not passed on the probes
    answered so far. A rule of a probe outside them is skipped with a note, unless ``required``.

    ``computed``: divergence rows that :func:`divergence` already gave for this table with this
    policy's confidence, resamples, seed and ``optimize_at`` in this ``mode`` (the analysis
    table); a rule whose rows are among them reuses them instead of resampling again.

    Raises :class:`OutcomeError` for an unknown baseline or candidate, or a probe of a
    candidate with no item paired with the baseline.
    """
    mode = mode or policy.mode
    baseline = baseline or policy.baseline
    if baseline not in table.variants:
        raise OutcomeError(
            f"unknown baseline variant {baseline!r}; the outcomes have {', '.join(table.variants)}",
            table.source,
        )
    names = list(candidates) if candidates is not None else [v for v in table.variants if v != baseline]
    if not names:
        raise OutcomeError(f"no candidate variant besides baseline {baseline!r}", table.source)
    expected = frozenset(expected_probes)
    return [_verdict(table, policy, mode, baseline, name, computed, expected) for name in names]


def _verdict(
    table: OutcomeTable, policy: Policy, mode: Mode, baseline: str, candidate: str, computed: Sequence[DivergenceRow],
    expected: frozenset[str],
) -> Verdict:
    table.check_pairing(baseline, candidate)
    rows: list[GateReason] = []
    notes: list[str] = []
    for rule in policy.rules:
        spec = resolve_metric(rule.probe, rule.metric, rule.worse)
        measured = all(table.has(rule.probe, v, c) for v in (baseline, candidate) for c in spec.columns)
        if not measured:
            unanswered = [v for v in (baseline, candidate) if rule.probe not in table.variant_probes(v)]
            if rule.probe in expected and unanswered:
                rows.append(GateReason(
                    rule.key, rule.utility, rule.tolerance, rule.min_items, "not measured",
                    f"probe {rule.probe!r} is configured, but {' and '.join(unanswered)} "
                    f"{'have' if len(unanswered) > 1 else 'has'} no outcome of it yet",
                    items_needed=rule.min_items,
                ))
                continue
            text = f"{rule.key}: not measured (needs outcome columns {', '.join(spec.columns)})"
            if rule.required:
                rows.append(
                    GateReason(rule.key, rule.utility, rule.tolerance, rule.min_items, "not measured", text)
                )
            else:
                notes.append(text + "; rule skipped")
            continue
        confidence = policy.confidence_of(rule)
        found = [
            row for row in computed
            if (row.baseline, row.candidate, row.probe, row.metric) == (baseline, candidate, rule.probe, spec.name)
            and row.worse == spec.worse and row.relative == rule.relative and row.confidence == confidence
        ] or divergence(
            table,
            baseline,
            candidate,
            metrics=[spec],
            relative=[(rule.probe, rule.metric)] if rule.relative else (),
            confidence=confidence,
            mode=mode,
            resamples=policy.resamples,
            seed=policy.seed,
            optimize_at=policy.optimize_at,
        )
        counted, absent = _counted(rule, found)
        for group in absent:
            rows.append(
                GateReason(
                    rule.key,
                    rule.utility,
                    rule.tolerance,
                    rule.min_items,
                    "insufficient",
                    f"group {group!r} has no paired items",
                    group=group,
                    items_needed=rule.min_items,
                )
            )
        for row in counted:
            rows.append(_classify(rule, row))
    undefined = [row for row in rows if row.status == "undefined"]
    if undefined:
        names = ", ".join(f"{row.rule} group {row.group!r}" for row in undefined)
        notes.append(
            f"{len(undefined)} counted row(s) undefined ({names}): each counts as insufficient, so the "
            "verdict cannot PASS until it has a value (its reason says why it has none); a rule that "
            "lists its groups (groups: [...]) leaves out a group where the metric cannot be defined"
        )
    tested = [row for row in rows if row.status == "undecided"]
    family = _control_fdr(tested, policy)
    decision, degenerate, reasons = _decide(rows)
    needed = None
    if decision == "INCONCLUSIVE":
        wanted = [row.items_needed for row in reasons if row.items_needed is not None]
        needed = max(wanted) if wanted else None
    if not rows:
        notes.append("no rule of the policy applies to these outcomes")
    return Verdict(baseline, candidate, decision, degenerate, mode, reasons, rows, family, needed, notes)


def _classify(rule: Rule, row: DivergenceRow) -> GateReason:
    """Status before FDR control: insufficient, undefined, or undecided (to be tested)."""
    gate_row = GateReason(
        rule.key, rule.utility, rule.tolerance, rule.min_items, "undecided", "", row, row.group
    )
    if row.n_items < rule.min_items:
        gate_row.status = "insufficient"
        gate_row.reason = f"{row.n_items} paired items, fewer than the {rule.min_items} required"
        gate_row.items_needed = rule.min_items - row.n_items
    elif not (math.isfinite(row.degradation) and math.isfinite(row.lower) and math.isfinite(row.upper)):
        gate_row.status = "undefined"
        why = row.undefined_reason or "the metric is undefined on these items"
        gate_row.reason = f"{why}; counted as insufficient: it holds the verdict INCONCLUSIVE until it has a value"
    else:
        gate_row.p_value = row.p_value(rule.tolerance)
    return gate_row


def _control_fdr(tested: list[GateReason], policy: Policy) -> dict[str, Any]:
    alphas = [1.0 - row.divergence.confidence for row in tested if row.divergence is not None]
    result = weighted_fdr([1.0 if row.p_value is None else row.p_value for row in tested], alphas, policy.fdr)
    rejected = int(result.rejected.sum())
    harmonic = float(np.sum(1.0 / np.arange(1, len(tested) + 1))) if policy.fdr == "by" else 1.0
    for row, reject, q, alpha in zip(tested, result.rejected, result.q_values, alphas, strict=True):
        row.q_value = float(q)
        divergence_row = row.divergence
        assert divergence_row is not None
        unit = " (relative)" if divergence_row.relative else ""
        row.fdr_lower = divergence_row.bounds(alpha * max(rejected, 1) / (len(tested) * harmonic))[0]
        if reject:
            row.status = "fail"
            row.reason = (
                f"degradation {_fmt(divergence_row.degradation)}{unit}, FDR-adjusted lower bound "
                f"{_fmt(row.fdr_lower)} > tolerance {_fmt(row.tolerance)}"
            )
            if row.utility:
                row.reason = "degenerate: " + row.reason
        elif divergence_row.upper <= row.tolerance:
            row.status = "pass"
            row.reason = f"upper bound {_fmt(divergence_row.upper)} <= tolerance {_fmt(row.tolerance)}{unit}"
        else:
            row.items_needed = divergence_row.items_needed(row.tolerance, alpha)
            lower_note = ""
            if divergence_row.lower > row.tolerance:
                lower_note = " (lower bound exceeds it, but not after FDR control)"
            row.reason = (
                f"interval [{_fmt(divergence_row.lower)}, {_fmt(divergence_row.upper)}] contains tolerance "
                f"{_fmt(row.tolerance)}{unit}{lower_note}"
            )
    return {
        "procedure": PROCEDURE_NAMES[policy.fdr],
        "level": result.level,
        "tests": len(tested),
        "rejected": rejected,
        "statement": (
            f"false discovery rate controlled by {PROCEDURE_NAMES[policy.fdr]} at {result.level:g} across "
            f"the {len(tested)} tested rows of this verdict"
        ),
    }


def _decide(rows: list[GateReason]) -> tuple[Decision, bool, list[GateReason]]:
    failing = [row for row in rows if row.status == "fail"]
    if failing:
        degenerate = any(row.utility for row in failing)
        failing.sort(key=lambda row: (not row.utility, row.q_value if row.q_value is not None else 1.0))
        return "FAIL", degenerate, failing
    open_rows = [row for row in rows if row.status != "pass"]
    if rows and not open_rows:
        closest = sorted(rows, key=lambda row: _margin(row), reverse=True)
        return "PASS", False, closest
    open_rows.sort(key=lambda row: -(row.items_needed or 0))
    return "INCONCLUSIVE", False, open_rows


def _margin(row: GateReason) -> float:
    """How close a passing row's upper bound comes to its tolerance (larger is closer)."""
    if row.divergence is None:
        return -math.inf
    return row.divergence.upper - row.tolerance
