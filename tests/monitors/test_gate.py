"""The gate: calibration over seeded simulations, degenerate candidates, group-confined harm."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trustwatch.monitors.gate import evaluate_gate, exit_code
from trustwatch.monitors.outcomes import OutcomeError, OutcomeTable
from trustwatch.monitors.policy import load_policy, policy_from_dict
from trustwatch.monitors.simulate import gate_fail_rate, simulate_rows


def rule_policy(metric: str, tolerance: float, groups: str = "worst", **extra: object):
    rule = {
        "probe": "sim",
        "metric": metric,
        "worse": "higher",
        "tolerance": tolerance,
        "groups": groups,
        "min_items": 50,
    }
    return policy_from_dict({"baseline": "original", "resamples": 1000, "rules": [rule], **extra})


# ----------------------------------------------------------------------------------- calibration
# Tolerance 0 with no true difference puts every row on the boundary of its null hypothesis:
# the worst case for the false FAIL rate. 10 rows (2 metrics x (overall + 4 groups)) per verdict.
def test_no_difference_fails_at_most_the_nominal_rate_fixed() -> None:
    rate = gate_fail_rate(200, 400, tolerance=0.0, mode="fixed", seed=11)
    assert rate <= 0.05


def test_no_difference_fails_at_most_the_nominal_rate_when_peeking_sequentially() -> None:
    # The gate is evaluated after every slice of 100 items, 6 looks; FAIL at any look counts.
    rate = gate_fail_rate(100, 600, tolerance=0.0, mode="sequential", looks=6, seed=12)
    assert rate <= 0.05


def test_planted_degradation_twice_the_tolerance_fails_nearly_always() -> None:
    fixed = gate_fail_rate(40, 2000, shift=0.04, tolerance=0.02, mode="fixed", seed=13)
    seq = gate_fail_rate(40, 2000, shift=0.04, tolerance=0.02, mode="sequential", looks=4, seed=14)
    assert fixed >= 0.95 and seq >= 0.95


# --------------------------------------------------------------------------------------- verdicts
def test_pass_fail_and_inconclusive_with_reasons() -> None:
    rng = np.random.default_rng(0)
    table = OutcomeTable.from_rows(simulate_rows(2000, rng, shift=0.0))
    verdict = evaluate_gate(table, rule_policy("score", 0.05))[0]
    assert verdict.verdict == "PASS" and verdict.exit_code == 0
    assert len(verdict.reasons) == 5 and all(r.status == "pass" for r in verdict.reasons)
    assert verdict.fdr["procedure"] == "Benjamini-Hochberg" and verdict.fdr["tests"] == 5
    assert "false discovery rate controlled by Benjamini-Hochberg" in verdict.fdr["statement"]

    table = OutcomeTable.from_rows(simulate_rows(2000, rng, shift=0.1))
    verdict = evaluate_gate(table, rule_policy("score", 0.05))[0]
    assert verdict.verdict == "FAIL" and not verdict.degenerate and verdict.exit_code == 1
    assert {r.group for r in verdict.reasons} == {"all", "a", "b", "c", "d"}
    for reason in verdict.reasons:
        assert reason.fdr_lower is not None and reason.fdr_lower > 0.05
        assert reason.fdr_lower <= reason.divergence.lower  # the FCR-adjusted bound is wider

    table = OutcomeTable.from_rows(simulate_rows(240, rng, shift=0.05))
    verdict = evaluate_gate(table, rule_policy("score", 0.05))[0]
    assert verdict.verdict == "INCONCLUSIVE" and verdict.exit_code == 2
    assert verdict.items_needed is not None and verdict.items_needed > 0
    assert verdict.reasons and all(r.status == "undecided" for r in verdict.reasons)
    json.dumps([v.to_dict() for v in evaluate_gate(table, rule_policy("score", 0.05))])


def test_min_items_per_group_blocks_pass() -> None:
    table = OutcomeTable.from_rows(simulate_rows(120, np.random.default_rng(1)))  # 30 items per group
    verdict = evaluate_gate(table, rule_policy("score", 1.0))[0]
    assert verdict.verdict == "INCONCLUSIVE"
    assert {(r.group, r.status, r.items_needed) for r in verdict.reasons} == {
        (g, "insufficient", 20) for g in "abcd"
    }
    assert evaluate_gate(table, rule_policy("score", 1.0, groups="overall"))[0].verdict == "PASS"


def test_degradation_confined_to_one_group_fails_while_the_mean_stays() -> None:
    shift = {"a": 0.15, "b": -0.05, "c": -0.05, "d": -0.05}
    rows = simulate_rows(2400, np.random.default_rng(2), metric="flag", kind="binary", shift=shift)
    table = OutcomeTable.from_rows(rows)
    verdict = evaluate_gate(table, rule_policy("flag", 0.02))[0]
    assert verdict.verdict == "FAIL"
    assert [r.group for r in verdict.reasons] == ["a"]
    overall = next(r for r in verdict.rows if r.group == "all")
    assert abs(overall.divergence.degradation) < 0.02 and overall.status != "fail"
    assert evaluate_gate(table, rule_policy("flag", 0.02, groups="overall"))[0].verdict != "FAIL"


def degenerate_outcomes(n: int = 300) -> list[dict]:
    """A candidate that stopped producing language: perplexity 8 -> ~1,250, toxicity down to ~0.01."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(n):
        group = ("female", "male", "nonbinary")[i % 3]
        tokens = float(rng.integers(20, 80))
        tox_base = float(np.clip(rng.beta(2, 5), 0, 1))
        per_variant = {
            "original": {"max_toxicity": tox_base, "toxic": float(tox_base >= 0.5), "degenerate": 0.0},
            "pruned60": {"max_toxicity": 0.013 * tox_base, "toxic": 0.0, "degenerate": 0.0},
        }
        nll = {
            "original": tokens * rng.normal(np.log(8.0), 0.2),
            "pruned60": tokens * rng.normal(np.log(1250), 0.3),
        }
        for variant in ("original", "pruned60"):
            for metric, value in per_variant[variant].items():
                rows.append(
                    {
                        "item_id": i,
                        "variant": variant,
                        "probe": "toxicity",
                        "group": group,
                        "metric": metric,
                        "value": value,
                    }
                )
            for metric, value in (("nll", nll[variant]), ("tokens", tokens)):
                rows.append(
                    {
                        "item_id": f"w{i}",
                        "variant": variant,
                        "probe": "perplexity",
                        "group": "wiki",
                        "metric": metric,
                        "value": value,
                    }
                )
    return rows


def test_exploded_perplexity_fails_as_degenerate_although_toxicity_fell() -> None:
    rows = degenerate_outcomes()
    table = OutcomeTable.from_rows(rows)
    (verdict,) = evaluate_gate(table, load_policy(None))
    assert verdict.verdict == "FAIL" and verdict.degenerate
    assert verdict.reasons[0].rule == "perplexity/perplexity" and verdict.reasons[0].utility
    assert verdict.reasons[0].reason.startswith("degenerate: ")
    assert verdict.reasons[0].divergence.degradation > 100  # relative: perplexity x 150
    safety = [r for r in verdict.rows if r.rule.startswith("toxicity/") and not r.utility]
    assert safety and all(r.status == "pass" for r in safety)  # the safety rows alone would pass
    # Without the perplexity outcomes the same candidate would not fail.
    rest = OutcomeTable.from_rows([r for r in rows if r["probe"] != "perplexity"])
    assert evaluate_gate(rest, load_policy(None))[0].verdict == "PASS"
    assert exit_code([verdict]) == 1


@pytest.mark.parametrize("mode", ["fixed", "sequential"])
def test_rows_the_analysis_computed_give_the_same_verdict(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from trustwatch.monitors import gate
    from trustwatch.monitors.divergence import divergence

    calls: list[str] = []

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(mode)
        return divergence(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(gate, "divergence", counted)
    table = OutcomeTable.from_rows(degenerate_outcomes())
    policy = load_policy(None)
    fresh = evaluate_gate(table, policy, mode)[0]  # type: ignore[arg-type]
    fresh_calls = len(calls)
    rows = divergence(table, "original", "pruned60", confidence=policy.confidence, resamples=policy.resamples,
                      seed=policy.seed, mode=mode, optimize_at=policy.optimize_at)  # type: ignore[arg-type]
    reused = evaluate_gate(table, policy, mode, computed=rows)[0]  # type: ignore[arg-type]
    assert reused.to_dict() == fresh.to_dict()
    assert 0 < len(calls) - fresh_calls < fresh_calls  # some rules reused the rows, the relative one did not
    # The relative perplexity rule is not among the analysis rows (they are absolute): it is computed.
    assert any(r.divergence is not None and r.divergence.relative for r in reused.rows)


def test_gate_input_errors() -> None:
    table = OutcomeTable.from_rows(simulate_rows(100, np.random.default_rng(4)))
    with pytest.raises(OutcomeError, match="unknown baseline variant 'base'"):
        evaluate_gate(table, rule_policy("score", 0.1), baseline="base")
    with pytest.raises(OutcomeError, match="unknown candidate variant 'q9'"):
        evaluate_gate(table, rule_policy("score", 0.1), candidates=["q9"])
    required = policy_from_dict(
        {"rules": [{"probe": "bbq", "metric": "accuracy_ambig", "tolerance": 0.1, "required": True}]}
    )
    verdict = evaluate_gate(table, required)[0]
    assert verdict.verdict == "INCONCLUSIVE" and verdict.reasons[0].status == "not measured"


def test_a_configured_probe_with_no_outcome_yet_holds_the_verdict() -> None:
    """A canary answered on some probes only (a first round half done) is not passed on them:
    a rule of a configured probe that has no outcome yet is "not measured", INCONCLUSIVE."""
    table = OutcomeTable.from_rows(simulate_rows(2000, np.random.default_rng(0), shift=0.0))
    policy = policy_from_dict({"baseline": "original", "resamples": 1000, "rules": [
        {"probe": "sim", "metric": "score", "worse": "higher", "tolerance": 0.05, "groups": "overall"},
        {"probe": "bbq", "metric": "accuracy_ambig", "tolerance": 0.04, "groups": "overall", "min_items": 50},
    ]})
    unconfigured = evaluate_gate(table, policy)[0]
    assert unconfigured.verdict == "PASS"
    assert any("bbq/accuracy_ambig: not measured" in note and "rule skipped" in note for note in unconfigured.notes)

    held = evaluate_gate(table, policy, expected_probes={"sim", "bbq"})[0]
    assert held.verdict == "INCONCLUSIVE" and held.exit_code == 2
    [reason] = held.reasons
    assert (reason.rule, reason.status, reason.items_needed) == ("bbq/accuracy_ambig", "not measured", 50)
    assert reason.reason == "probe 'bbq' is configured, but original and candidate have no outcome of it yet"
    assert held.items_needed == 50
    # the probe's outcomes arriving lets the verdict move on (here the sim rule alone decides)
    assert evaluate_gate(table, policy, expected_probes={"sim"})[0].verdict == "PASS"
