"""Anytime-valid intervals: asymptotic confidence sequences for a paired degradation.

The gate is evaluated again and again as items accumulate. A fixed-n interval checked after
every slice fails far more often than its level says; a *confidence sequence* holds at every
sample size at once, so checking it as often as one likes keeps the error rate.

We use the asymptotic confidence sequence of Waudby-Smith, Arnold, Wu, Howard & Ramdas,
"Time-uniform central limit theory and asymptotic confidence sequences" (Ann. Statist. 2024,
Thm. 2.2, the Robbins normal-mixture boundary): after ``t`` units with mean ``x`` and standard
deviation ``s``,

    x +- s * sqrt( 2 (t rho^2 + 1) / (t^2 rho^2) * log( sqrt(t rho^2 + 1) / alpha ) )

covers the mean at every ``t`` simultaneously with probability about ``1 - alpha``; ``rho``
sets the sample size at which the sequence is tightest (Howard et al. 2021, "Time-uniform,
nonparametric, nonasymptotic confidence sequences", Ann. Statist., Sec. 3.5). A metric that
is a smooth function of column sums is reduced to a mean by the delta method: each unit's
*influence* on the statistic (:func:`influence`), whose mean the sequence tracks.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Statistic = Callable[[np.ndarray], np.ndarray]
"""Maps column sums, shape ``(..., width)``, to the statistic, shape ``(...)``."""


def mixture_rho(alpha: float, optimize_at: float) -> float:
    """The mixture scale that makes the sequence tightest at ``optimize_at`` units."""
    log_term = -2.0 * math.log(alpha)
    return math.sqrt((log_term + math.log(log_term + 1.0)) / optimize_at)


def radius(t: float, alpha: float, rho: float) -> float:
    """Half-width of the two-sided sequence for a mean of unit-variance terms after ``t`` units."""
    if t <= 0:
        return math.inf
    scale = t * rho * rho + 1.0
    return math.sqrt(2.0 * scale / (t * t * rho * rho) * math.log(math.sqrt(scale) / alpha))


def anytime_p_value(margin: float, sd: float, t: float, rho: float) -> float:
    """The smallest alpha at which the sequence excludes a value ``margin`` below the estimate.

    It is the p-value of H0: statistic <= estimate - margin, valid at any stopping time.
    """
    if margin <= 0:
        return 1.0
    if sd <= 0:
        return 0.0
    scale = t * rho * rho + 1.0
    exponent = -((margin / sd) ** 2) * t * t * rho * rho / (2.0 * scale)
    return float(min(1.0, math.sqrt(scale) * math.exp(exponent)))


def units_for_radius(target: float, alpha: float, rho: float, start: float) -> float:
    """The smallest number of units (at least ``start``) at which :func:`radius` is at most ``target``."""
    if radius(start, alpha, rho) <= target:
        return start
    low, high = start, 2.0 * start
    while radius(high, alpha, rho) > target:
        low, high = high, 2.0 * high
        if high > 1e13:
            return math.inf
    while high - low > 1.0:
        middle = (low + high) / 2.0
        if radius(middle, alpha, rho) > target:
            low = middle
        else:
            high = middle
    return high


def influence(units: np.ndarray, statistic: Statistic) -> np.ndarray:
    """Per-unit influence values of a statistic of column sums (delta method, central differences).

    For a statistic of the sums that is unchanged when all sums scale together (every metric
    is a ratio of sums), ``statistic - truth`` is to first order the mean of these values.
    """
    n, width = units.shape
    total = units.sum(axis=0)
    steps = 1e-6 * np.maximum(np.abs(total), 1.0)
    shifted = np.repeat(total[None, :], 2 * width, axis=0)
    rows = np.arange(width)
    shifted[2 * rows, rows] += steps
    shifted[2 * rows + 1, rows] -= steps
    values = statistic(shifted)
    gradient = (values[0::2] - values[1::2]) / (2.0 * steps)
    gradient = np.where(np.isfinite(gradient), gradient, 0.0)
    return n * (units - total / n) @ gradient
