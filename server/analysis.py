"""From stored outcomes to what users read: per-variant metrics, paired divergence, verdicts.

The one place where the service, ``trustwatch run`` and the CLI turn outcome rows into
numbers; the statistics themselves live in ``trustwatch.monitors``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from trustwatch.monitors.divergence import DivergenceRow, divergence
from trustwatch.monitors.gate import Verdict, evaluate_gate
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


def analyse(
    rows: Sequence[Mapping[str, Any]],
    baseline: str,
    candidates: Sequence[str],
    policy: Policy,
    mode: str | None = None,
) -> Analysis:
    """Metrics of every variant, and for each candidate with paired items its divergence and verdict."""
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
            # The same mode as the gate, so that exported bounds are the ones the verdict reads.
            found = divergence(
                table, baseline, candidate, confidence=policy.confidence, resamples=policy.resamples,
                seed=policy.seed, mode=mode, optimize_at=policy.optimize_at,  # type: ignore[arg-type]
            )
            result.divergence += found
            result.verdicts += evaluate_gate(
                table, policy, mode, baseline=baseline, candidates=[candidate], computed=found,  # type: ignore[arg-type]
            )
        except OutcomeError as error:
            result.notes.append(f"{candidate}: {error}")
    return result
