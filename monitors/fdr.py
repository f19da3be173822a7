"""False discovery rate control across the rows a verdict looks at.

Benjamini & Hochberg 1995 (JRSS-B 57:289), with p-value weights (Genovese, Roeder &
Wasserman 2006, Biometrika 93:509: reject ``p_i / w_i`` in the BH step-up, weights averaging 1)
so that rows with different confidence levels share one family; Benjamini & Yekutieli 2001
(Ann. Statist. 29:1165) for arbitrary dependence. The selected rows' intervals are reported
at the false-coverage-adjusted level ``1 - R alpha_i / m`` (Benjamini & Yekutieli 2005, JASA
100:71), whose lower bounds exceed the tolerance exactly for the rejected rows when the
p-values are dual to the intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Procedure = Literal["bh", "by"]
PROCEDURE_NAMES = {"bh": "Benjamini-Hochberg", "by": "Benjamini-Yekutieli"}


@dataclass(frozen=True)
class FdrResult:
    rejected: np.ndarray
    """Boolean per hypothesis."""
    q_values: np.ndarray
    """Adjusted p-values: hypothesis i is rejected at FDR level q exactly when q_i <= q."""
    level: float
    size: int
    procedure: Procedure


def weighted_fdr(
    p_values: Sequence[float], alphas: Sequence[float], procedure: Procedure = "bh"
) -> FdrResult:
    """Weighted BH (or BY) of p-values, each row with its own nominal level ``alphas[i]``.

    The weights are ``alpha_i / mean(alpha)`` and the family level is ``mean(alpha)``; with equal
    levels this is plain BH at that level, and a family of one rejects when ``p < alpha``.
    """
    p = np.asarray(p_values, dtype=float)
    a = np.asarray(alphas, dtype=float)
    m = p.size
    if m == 0:
        return FdrResult(np.zeros(0, dtype=bool), np.zeros(0), 0.0, 0, procedure)
    level = float(a.mean())
    weighted = p / (a / level)
    if procedure == "by":
        weighted = weighted * float(np.sum(1.0 / np.arange(1, m + 1)))
    order = np.argsort(weighted, kind="stable")
    ranked = weighted[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(adjusted, 1.0)
    return FdrResult(q <= level, q, level, m, procedure)
