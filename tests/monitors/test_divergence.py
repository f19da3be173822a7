"""Paired divergence rows: signing, ratio metrics from item sums, clusters, binary closed forms."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from trustwatch.common.metrics import METRICS
from trustwatch.monitors.divergence import available_metrics, divergence, resolve_metric
from trustwatch.monitors.outcomes import OutcomeTable
from trustwatch.monitors.simulate import simulate_rows


def rows_for(
    probe: str, group_of: list[str], columns: dict[str, dict[str, list[float | None]]]
) -> list[dict]:
    """columns: variant -> metric -> per-item values (None: no row)."""
    out = []
    for variant, metrics in columns.items():
        for metric, values in metrics.items():
            for i, value in enumerate(values):
                if value is not None:
                    out.append(
                        {
                            "item_id": i,
                            "variant": variant,
                            "probe": probe,
                            "group": group_of[i],
                            "metric": metric,
                            "value": value,
                        }
                    )
    return out


def test_lower_is_worse_metrics_are_signed_positive_when_worse() -> None:
    rng = np.random.default_rng(0)
    n = 400
    base = (rng.random(n) < 0.8).astype(float)
    cand = np.where(rng.random(n) < 0.2, 0.0, base)  # the candidate loses correct answers
    groups = ["age", "religion"] * (n // 2)
    table = OutcomeTable.from_rows(
        rows_for(
            "bbq", groups, {"original": {"correct_ambig": list(base)}, "q3": {"correct_ambig": list(cand)}}
        )
    )
    rows = divergence(table, "original", "q3")
    overall = next(r for r in rows if r.metric == "accuracy_ambig" and r.group == "all")
    assert overall.worse == "lower"
    assert overall.difference == pytest.approx(cand.mean() - base.mean())
    assert overall.degradation == pytest.approx(base.mean() - cand.mean()) and overall.degradation > 0
    assert overall.lower <= overall.degradation <= overall.upper and overall.lower > 0
    assert overall.method == "newcombe"
    assert overall.flips_down == int(np.sum((base == 1) & (cand == 0))) and overall.flips_up == 0
    assert overall.flip_rate == pytest.approx(overall.flips_down / n)
    assert overall.mcnemar_p is not None and overall.mcnemar_p < 1e-6
    assert [r.group for r in rows if r.metric == "accuracy_ambig"] == ["all", "age", "religion"]
    json.dumps([r.to_dict() for r in rows])


def test_ratio_metric_interval_comes_from_item_sums() -> None:
    rng = np.random.default_rng(1)
    n = 300
    tokens = rng.integers(5, 60, size=n).astype(float)
    nll_b = tokens * rng.normal(2.0, 0.3, size=n)
    nll_c = nll_b + tokens * rng.normal(0.2, 0.1, size=n)
    table = OutcomeTable.from_rows(
        rows_for(
            "perplexity",
            ["x"] * n,
            {
                "original": {"nll": list(nll_b), "tokens": list(tokens)},
                "pruned": {"nll": list(nll_c), "tokens": list(tokens)},
            },
        )
    )
    spec = resolve_metric("perplexity", "perplexity")
    (row, _) = divergence(
        table, "original", "pruned", metrics=[spec], relative=[("perplexity", "perplexity")]
    )
    ppl_b, ppl_c = math.exp(nll_b.sum() / tokens.sum()), math.exp(nll_c.sum() / tokens.sum())
    assert (row.baseline_value, row.candidate_value) == (pytest.approx(ppl_b), pytest.approx(ppl_c))
    assert row.relative and row.degradation == pytest.approx(ppl_c / ppl_b - 1.0)
    assert row.method == "bootstrap" and row.resamples == 2000
    assert row.lower < row.degradation < row.upper
    # Paired: resampling both variants' items independently would give a far wider interval.
    rng = np.random.default_rng(9)
    unpaired = []
    for _ in range(500):
        i, j = rng.integers(0, n, size=n), rng.integers(0, n, size=n)
        unpaired.append(
            math.exp(nll_c[j].sum() / tokens[j].sum()) / math.exp(nll_b[i].sum() / tokens[i].sum())
        )
    low, high = np.quantile(unpaired, [0.025, 0.975])
    assert row.upper - row.lower < 0.5 * (high - low)
    again = divergence(table, "original", "pruned", metrics=[spec], relative=[("perplexity", "perplexity")])[
        0
    ]
    assert (again.lower, again.upper) == (row.lower, row.upper)  # seeded


def test_template_clusters_widen_the_interval() -> None:
    rows = simulate_rows(
        600, np.random.default_rng(2), probe="sim", metric="score", groups=("g",), shift=0.0, template_size=20
    )
    # Make the candidate's shift a template-level effect: correlated within clusters.
    template_shift = np.random.default_rng(3).normal(0.0, 0.1, size=30)
    for r in rows:
        if r["variant"] == "candidate":
            r["value"] += float(template_shift[r["template"]])
    clustered = divergence(OutcomeTable.from_rows(rows), "original", "candidate")[0]
    flat = divergence(
        OutcomeTable.from_rows([{k: v for k, v in r.items() if k != "template"} for r in rows]),
        "original",
        "candidate",
    )[0]
    assert clustered.method == "cluster-bootstrap" and (clustered.n_items, clustered.n_units) == (600, 30)
    assert flat.method == "bootstrap" and flat.n_units == 600
    assert clustered.degradation == pytest.approx(flat.degradation)
    assert clustered.upper - clustered.lower > 2.0 * (flat.upper - flat.lower)


def test_items_lacking_a_column_add_nothing() -> None:
    # BBQ: items 0-1 ambiguous, 2-5 disambiguated.
    nan = None
    base = {
        "biased_disambig": [nan, nan, 1, 0, 1, 1],
        "non_unknown_disambig": [nan, nan, 1, 1, 1, 1],
        "correct_ambig": [1, 0, nan, nan, nan, nan],
    }
    cand = {
        "biased_disambig": [nan, nan, 1, 1, 1, 1],
        "non_unknown_disambig": [nan, nan, 1, 1, 1, 1],
        "correct_ambig": [1, 1, nan, nan, nan, nan],
    }
    table = OutcomeTable.from_rows(rows_for("bbq", ["age"] * 6, {"original": base, "q3": cand}))
    rows = {(r.metric, r.group): r for r in divergence(table, "original", "q3", resamples=200)}
    bias = rows[("bias_score_disambig", "all")]
    assert bias.n_items == 4
    assert bias.baseline_value == pytest.approx(2 * 3 / 4 - 1) and bias.candidate_value == pytest.approx(1.0)
    assert rows[("accuracy_ambig", "all")].n_items == 2
    # bias_score_ambig needs non_unknown_ambig, which these outcomes lack: no row.
    assert not any(metric == "bias_score_ambig" for metric, _ in rows)


def test_available_metrics_and_outcome_level_metrics() -> None:
    rows = rows_for(
        "toxicity",
        ["a", "b"],
        {
            "original": {"max_toxicity": [0.1, 0.2], "toxic": [0, 0], "degenerate": [0.0, 0.0]},
            "q4": {"max_toxicity": [0.1, 0.3], "toxic": [0, 1], "degenerate": [0.5, 0.0]},
        },
    )
    table = OutcomeTable.from_rows(rows)
    names = [s.name for s in available_metrics(table, "toxicity")]
    assert names == ["expected_max_toxicity", "toxicity_probability", "degenerate"]
    assert len(available_metrics(table, "toxicity", all_outcomes=True)) == 5
    custom = resolve_metric("my_probe", "helpfulness", "lower")
    assert custom.outcome_level and custom.worse == "lower" and custom.columns == ("helpfulness",)
    with pytest.raises(ValueError, match="worse is 'higher' by definition"):
        resolve_metric("toxicity", "expected_max_toxicity", "lower")
    # Every paper metric resolves to its declaration; the CrowS-Pairs percentage is a scaled proportion.
    resolved = {(m.probe, m.name): resolve_metric(m.probe, m.name) for m in METRICS}
    assert all(resolved[(m.probe, m.name)] is m for m in METRICS)
    assert (resolved[("crows_pairs", "stereotype_score")].statistic, resolved[("crows_pairs", "stereotype_score")].scale) == (
        "proportion",
        100.0,
    )
    assert resolved[("toxicity", "toxicity_probability")].method == "mcnemar"
    assert resolved[("perplexity", "perplexity")].statistic == "ratio"
    assert resolve_metric("toxicity", "toxic").method == "mcnemar" and custom.method == "bootstrap"


def test_sequential_rows_are_wider_and_anytime() -> None:
    rows = simulate_rows(2000, np.random.default_rng(4), shift=0.01)
    table = OutcomeTable.from_rows(rows)
    fixed = divergence(table, "original", "candidate")[0]
    seq = divergence(table, "original", "candidate", mode="sequential")[0]
    assert seq.method == "confidence-sequence" and seq.degradation == pytest.approx(fixed.degradation)
    assert seq.upper - seq.lower > fixed.upper - fixed.lower
    assert seq.p_value(0.0) > fixed.p_value(0.0) / 10
