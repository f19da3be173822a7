"""Closed-form intervals and tests for paired binary outcomes.

- Wilson score interval for one proportion (Wilson 1927, JASA 22:209).
- Newcombe's interval for the difference of two paired proportions: method 10 of Newcombe
  1998, "Improved confidence intervals for the difference between binomial proportions based
  on paired data", Stat. Med. 17:2635-2650 (Wilson limits of each margin, combined with the
  phi correlation of the 2x2 table, its cross-product shrunk by n/2 when positive).
- McNemar's exact test (McNemar 1947, Psychometrika 12:153): under no difference the
  discordant pairs split Binomial(b + c, 1/2); two-sided p = min(1, 2 P(X <= min(b, c))).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

from scipy import stats

_NORMAL = NormalDist()
LowerBound = Callable[[float], float]
"""Maps the normal quantile z of a two-sided interval to its lower bound (decreasing in z)."""


@dataclass(frozen=True)
class PairedCounts:
    """The 2x2 table of paired binary outcomes; *first* is the candidate, *second* the baseline."""

    both: int
    first_only: int
    second_only: int
    neither: int

    @property
    def n(self) -> int:
        return self.both + self.first_only + self.second_only + self.neither

    @property
    def difference(self) -> float:
        """p_first - p_second = (first_only - second_only) / n."""
        return (self.first_only - self.second_only) / self.n

    @property
    def flip_rate(self) -> float:
        """Share of pairs whose outcome differs between the variants."""
        return (self.first_only + self.second_only) / self.n


def wilson(successes: float, n: float, z: float) -> tuple[float, float]:
    """Wilson score interval of a proportion at normal quantile ``z``."""
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_paired(counts: PairedCounts, z: float) -> tuple[float, float]:
    """Newcombe (1998) method 10 interval for p_first - p_second at normal quantile ``z``."""
    e, f, g, h, n = counts.both, counts.first_only, counts.second_only, counts.neither, counts.n
    p1, p2 = (e + f) / n, (e + g) / n
    l1, u1 = wilson(e + f, n, z)
    l2, u2 = wilson(e + g, n, z)
    denominator = (e + f) * (g + h) * (e + g) * (f + h)
    # Newcombe's phi: the cross-product shrunk by n/2 when positive (his continuity correction
    # of the correlation), kept when negative, zero for an empty margin.
    cross = e * h - f * g
    corrected = cross - n / 2 if cross > n / 2 else (cross if cross < 0 else 0.0)
    phi = corrected / math.sqrt(denominator) if denominator > 0 else 0.0
    delta = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    epsilon = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    theta = p1 - p2
    return max(-1.0, theta - delta), min(1.0, theta + epsilon)


def mcnemar_exact(first_only: int, second_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts."""
    discordant = first_only + second_only
    if discordant == 0:
        return 1.0
    return float(min(1.0, 2.0 * stats.binom.cdf(min(first_only, second_only), discordant, 0.5)))


def z_of(alpha: float) -> float:
    """The normal quantile of a two-sided ``1 - alpha`` interval."""
    return _NORMAL.inv_cdf(1.0 - alpha / 2.0)


def invert_lower(lower_at: LowerBound, threshold: float, estimate: float) -> float:
    """The two-sided alpha at which a lower bound that widens with z reaches ``threshold``.

    That is the p-value of H0: degradation <= threshold, dual to the interval: the bound
    exceeds the threshold at level alpha exactly when this p-value is below alpha.
    """
    if not estimate > threshold:
        return 1.0
    low, high = 0.0, 50.0
    if lower_at(high) > threshold:
        return 0.0
    for _ in range(80):
        middle = (low + high) / 2
        if lower_at(middle) > threshold:
            low = middle
        else:
            high = middle
    return 2.0 * (1.0 - _NORMAL.cdf(low))
