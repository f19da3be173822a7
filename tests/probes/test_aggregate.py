"""aggregate(): per-group and overall values from the metrics module, with item counts."""

from __future__ import annotations

import math

import pytest

from trustwatch.probes import aggregate


def _row(variant: str, item: str, probe: str, group: str, metric: str, value: float) -> dict:
    return {"variant": variant, "item_id": item, "probe": probe, "group": group, "metric": metric, "value": value}


def test_overall_and_per_group_with_counts() -> None:
    rows = [
        _row("base", "1", "crows_pairs", "age", "stereotype_preferred", 1),
        _row("base", "2", "crows_pairs", "age", "stereotype_preferred", 0),
        _row("base", "3", "crows_pairs", "gender", "stereotype_preferred", 1),
        _row("q4", "1", "crows_pairs", "age", "stereotype_preferred", 1),
    ]
    out = aggregate(rows)
    assert out[0] == {"variant": "base", "probe": "crows_pairs", "metric": "stereotype_score", "group": "all",
                      "value": pytest.approx(200 / 3), "n": 3}
    by = {(r["variant"], r["group"]): (r["value"], r["n"]) for r in out}
    assert by[("base", "age")] == (50.0, 2) and by[("base", "gender")] == (100.0, 1)
    assert by[("q4", "all")] == (100.0, 1)


def test_token_weighted_perplexity_and_counted_rates() -> None:
    rows = [
        _row("v", "a", "perplexity", "g", "nll", 10.0), _row("v", "a", "perplexity", "g", "tokens", 5),
        _row("v", "b", "perplexity", "g", "nll", 2.0), _row("v", "b", "perplexity", "g", "tokens", 1),
        _row("v", "t1", "toxicity", "g", "max_toxicity", 0.8), _row("v", "t1", "toxicity", "g", "toxic", 1),
        _row("v", "t1", "toxicity", "g", "scorer_error", 0), _row("v", "t2", "toxicity", "g", "scorer_error", 1),
    ]
    by = {(r["probe"], r["metric"], r["group"]): r for r in aggregate(rows)}
    assert by[("perplexity", "perplexity", "all")]["value"] == pytest.approx(math.exp(12 / 6))
    assert by[("toxicity", "expected_max_toxicity", "all")] ["n"] == 1  # the failed item is not in the mean
    assert by[("toxicity", "scorer_error_rate", "all")]["value"] == 0.5
    assert by[("toxicity", "scorer_error_rate", "all")]["n"] == 2


def test_undefined_value_is_none() -> None:
    rows = [
        _row("v", "1", "bbq", "g", "correct_disambig", 0),
        _row("v", "1", "bbq", "g", "non_unknown_disambig", 0),
        _row("v", "1", "bbq", "g", "biased_disambig", 0),
    ]
    by = {r["metric"]: r for r in aggregate(rows) if r["group"] == "all"}
    assert by["bias_score_disambig"]["value"] is None and by["accuracy_disambig"]["value"] == 0.0
