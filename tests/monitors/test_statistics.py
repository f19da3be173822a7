"""The building blocks: Newcombe, McNemar, BH, the vectorised bootstrap, confidence sequences."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from trustwatch.monitors import bootstrap, sequential
from trustwatch.monitors.fdr import weighted_fdr
from trustwatch.monitors.intervals import (
    PairedCounts,
    invert_lower,
    mcnemar_exact,
    newcombe_paired,
    wilson,
    z_of,
)


def test_newcombe_matches_published_example() -> None:
    # Cavo et al. 2012 as tabulated by Fagerland, Lydersen & Laake, "Statistical Analysis of
    # Contingency Tables" (2017), Ch. 8: Newcombe square-and-add interval -0.1186 to -0.0046.
    counts = PairedCounts(both=59, first_only=6, second_only=16, neither=80)
    low, high = newcombe_paired(counts, z_of(0.05))
    assert counts.difference == pytest.approx(-0.0621, abs=5e-5)
    assert (round(low, 4), round(high, 4)) == (-0.1186, -0.0046)
    # Exact McNemar on the same table: 2 P(Binomial(22, 1/2) <= 6).
    assert mcnemar_exact(6, 16) == pytest.approx(2 * sum(math.comb(22, k) for k in range(7)) / 2**22)
    assert mcnemar_exact(0, 0) == 1.0


def test_wilson_and_inversion_are_dual() -> None:
    low, high = wilson(0, 20, z_of(0.05))
    assert low == pytest.approx(0.0, abs=1e-12) and 0.1 < high < 0.2
    counts = PairedCounts(both=100, first_only=40, second_only=15, neither=345)
    p = invert_lower(lambda z: newcombe_paired(counts, z)[0], 0.02, counts.difference)
    # At level 1 - p the lower bound sits on the threshold.
    assert newcombe_paired(counts, z_of(p))[0] == pytest.approx(0.02, abs=1e-9)
    assert invert_lower(lambda z: newcombe_paired(counts, z)[0], 0.5, counts.difference) == 1.0


def test_benjamini_hochberg_step_up() -> None:
    # The textbook example: m = 5, q = 0.05; p sorted 0.001 0.008 0.039 0.041 0.042.
    result = weighted_fdr([0.042, 0.001, 0.039, 0.008, 0.041], [0.05] * 5)
    assert result.rejected.tolist() == [True, True, True, True, True]
    result = weighted_fdr([0.06, 0.001, 0.039, 0.008, 0.041], [0.05] * 5)
    assert result.rejected.tolist() == [False, True, False, True, False]
    assert result.q_values[1] == pytest.approx(0.005)
    # A family of one rejects exactly below its own level; BY is stricter than BH.
    assert weighted_fdr([0.009], [0.01]).rejected.tolist() == [True]
    assert weighted_fdr([0.011], [0.01]).rejected.tolist() == [False]
    by = weighted_fdr([0.06, 0.001, 0.039, 0.008, 0.041], [0.05] * 5, "by")
    assert by.rejected.sum() <= 2 and np.all(by.q_values >= result.q_values)


def test_bootstrap_sums_equal_a_naive_resampling_loop() -> None:
    rng = np.random.default_rng(0)
    units = rng.normal(size=(37, 3))
    fast = bootstrap.bootstrap_sums(units, 50, np.random.default_rng(5))
    draws = np.random.default_rng(5).integers(0, 37, size=(50, 37))
    np.testing.assert_allclose(fast, np.stack([units[d].sum(axis=0) for d in draws]))
    # Chunking does not change the replicates.
    old = bootstrap.CHUNK_CELLS
    try:
        bootstrap.CHUNK_CELLS = 37 * 7
        chunked = bootstrap.bootstrap_sums(units, 50, np.random.default_rng(5))
    finally:
        bootstrap.CHUNK_CELLS = old
    np.testing.assert_allclose(chunked, fast)


def test_poisson_bootstrap_for_many_units() -> None:
    rng = np.random.default_rng(3)
    n = bootstrap.POISSON_FROM * 2
    x = rng.normal(0.0, 1.0, size=n)
    units = np.column_stack([x, np.ones(n)])
    sums = bootstrap.bootstrap_sums(units, 400, np.random.default_rng(4))
    weights_total = sums[:, 1]
    assert abs(weights_total.mean() / n - 1.0) < 0.01  # Poisson(1) weights: total about n
    assert np.std(weights_total) == pytest.approx(math.sqrt(n), rel=0.15)
    means = sums[:, 0] / sums[:, 1]
    assert np.std(means) == pytest.approx(x.std() / math.sqrt(n), rel=0.1)


def test_unit_sums_collapse_clusters() -> None:
    matrix = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(
        bootstrap.unit_sums(matrix, np.array([7, 3, 7, 3])), [[12, 14, 16], [6, 8, 10]]
    )


def test_influence_of_a_mean_and_a_ratio() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 1.0, size=200)
    units = np.column_stack([x, np.ones_like(x)])
    psi = sequential.influence(units, lambda s: s[..., 0] / s[..., 1])
    np.testing.assert_allclose(psi, x - x.mean(), atol=1e-6)
    # Ratio of sums: the delta-method influence (y_i - r t_i) / mean(t).
    y, t = rng.normal(5.0, 1.0, size=200), rng.uniform(1.0, 3.0, size=200)
    psi = sequential.influence(np.column_stack([y, t]), lambda s: s[..., 0] / s[..., 1])
    r = y.sum() / t.sum()
    np.testing.assert_allclose(psi, (y - r * t) / t.mean(), rtol=1e-5, atol=1e-6)


def test_confidence_sequence_radius() -> None:
    rho = sequential.mixture_rho(0.05, 1000)
    widths = [sequential.radius(t, 0.05, rho) for t in (10, 100, 1000, 10_000, 100_000)]
    assert all(a > b for a, b in itertools.pairwise(widths))
    # Wider than the fixed-n interval at every n (the price of looking often).
    for t, width in zip((10, 100, 1000, 10_000, 100_000), widths, strict=True):
        assert width > z_of(0.05) / math.sqrt(t)
    # The anytime p-value is dual to the radius.
    margin = sequential.radius(500, 0.05, rho)
    assert sequential.anytime_p_value(margin, 1.0, 500, rho) == pytest.approx(0.05)
    assert sequential.units_for_radius(sequential.radius(4000, 0.05, rho), 0.05, rho, 500) == pytest.approx(
        4000, abs=1.0
    )
