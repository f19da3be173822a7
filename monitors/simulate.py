"""Seeded synthetic paired outcomes, for calibration tests and benchmarks of the statistics.

Each item has a latent level shared by both variants (that is what pairing buys: the
difference cancels it); the candidate's outcome moves by ``shift[group]``. Items may share a
template: then the latent level is mostly the template's, and items of one template are
correlated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from trustwatch.monitors.divergence import Mode
from trustwatch.monitors.gate import evaluate_gate
from trustwatch.monitors.outcomes import OutcomeTable
from trustwatch.monitors.policy import Policy, policy_from_dict

Kind = Literal["continuous", "binary"]


def simulate_rows(
    n_items: int,
    rng: np.random.Generator,
    *,
    probe: str = "sim",
    metric: str = "score",
    kind: Kind = "continuous",
    groups: Sequence[str] = ("a", "b", "c", "d"),
    shift: float | Mapping[str, float] = 0.0,
    baseline: str = "original",
    candidate: str = "candidate",
    template_size: int | None = None,
    level: float = 0.3,
) -> list[dict[str, Any]]:
    """Rows for ``n_items`` items, each answered by both variants; groups assigned round-robin.

    continuous: value = latent + N(0, 0.1) noise per variant (+ shift for the candidate);
    binary: Bernoulli(clip(latent (+ shift))), latent ~ level + N(0, 0.1) clipped to [0.01, 0.99].
    ``template_size``: consecutive items share a template of that size (and most of their latent).
    """
    group_of = np.asarray(groups, dtype=object)[np.arange(n_items) % len(groups)]
    shifts = np.array([shift.get(g, 0.0) if isinstance(shift, Mapping) else shift for g in group_of])
    if template_size:
        template = np.arange(n_items) // template_size
        template_level = rng.normal(0.0, 0.1, size=int(template.max()) + 1)
        latent = level + template_level[template] + rng.normal(0.0, 0.03, size=n_items)
    else:
        template = None
        latent = level + rng.normal(0.0, 0.1, size=n_items)
    if kind == "continuous":
        base = latent + rng.normal(0.0, 0.1, size=n_items)
        cand = latent + shifts + rng.normal(0.0, 0.1, size=n_items)
    else:
        p = np.clip(latent, 0.01, 0.99)
        base = (rng.random(n_items) < p).astype(float)
        cand = (rng.random(n_items) < np.clip(p + shifts, 0.0, 1.0)).astype(float)
    rows: list[dict[str, Any]] = []
    for variant, values in ((baseline, base), (candidate, cand)):
        for i in range(n_items):
            row: dict[str, Any] = {
                "item_id": i,
                "variant": variant,
                "probe": probe,
                "group": group_of[i],
                "metric": metric,
                "value": float(values[i]),
            }
            if template is not None:
                row["template"] = int(template[i])
            rows.append(row)
    return rows


def calibration_policy(tolerance: float, *, resamples: int = 1000, min_items: int = 50) -> Policy:
    """Two rules over the simulated outcomes (a continuous score and a 0/1 flag), every group counted."""
    rules = [
        {"probe": "sim", "metric": metric, "worse": "higher", "tolerance": tolerance, "min_items": min_items}
        for metric in ("score", "flag")
    ]
    return policy_from_dict({"baseline": "original", "resamples": resamples, "rules": rules}, "<calibration>")


def gate_fail_rate(
    simulations: int,
    n_items: int,
    *,
    shift: float | Mapping[str, float] = 0.0,
    tolerance: float = 0.0,
    mode: Mode = "fixed",
    looks: int = 1,
    seed: int = 0,
    resamples: int = 1000,
) -> float:
    """Share of simulations in which the gate FAILs on outcomes of a continuous score and a 0/1 flag.

    With ``looks > 1`` the gate is evaluated after every slice of ``n_items / looks`` items (in the
    order they were drawn) and a simulation counts as FAIL when any look FAILs: peeking.
    """
    policy = calibration_policy(tolerance, resamples=resamples)
    rng = np.random.default_rng(seed)
    fails = 0
    for _ in range(simulations):
        rows = simulate_rows(n_items, rng, metric="score", shift=shift)
        rows += simulate_rows(n_items, rng, metric="flag", kind="binary", shift=shift)
        for look in range(1, looks + 1):
            limit = n_items * look // looks
            table = OutcomeTable.from_rows(r for r in rows if r["item_id"] < limit)
            if evaluate_gate(table, policy, mode)[0].verdict == "FAIL":
                fails += 1
                break
    return fails / simulations
