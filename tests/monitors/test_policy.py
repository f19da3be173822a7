"""Gate policies: the documented default, the issue's form, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from trustwatch.common.metrics import METRICS
from trustwatch.monitors.policy import PolicyError, load_policy

ISSUE_FORM = """
baseline: original          # variant name
confidence: 0.95
rules:
  - probe: crows_pairs
    metric: stereotype_preferred
    worse: higher           # or lower
    tolerance: 0.02         # absolute, in the metric's unit
    groups: worst           # every group counts; or: overall
    min_items: 50
"""


def test_default_policy_covers_every_metric_and_the_utility_rules() -> None:
    policy = load_policy(None)
    keys = {(rule.probe, rule.metric) for rule in policy.rules}
    assert {(m.probe, m.name) for m in METRICS} <= keys
    utility = {rule.key for rule in policy.rules if rule.utility}
    assert utility == {"perplexity/perplexity", "toxicity/degenerate", "stereotype_agreement/unparsed"}
    perplexity = next(rule for rule in policy.rules if rule.key == "perplexity/perplexity")
    assert perplexity.relative and perplexity.groups == "overall"
    assert policy.baseline == "original" and policy.confidence == 0.95 and policy.fdr == "bh"


def test_issue_form_loads(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(ISSUE_FORM)
    policy = load_policy(path)
    (rule,) = policy.rules
    assert (rule.probe, rule.metric, rule.worse, rule.tolerance, rule.groups, rule.min_items) == (
        "crows_pairs",
        "stereotype_preferred",
        "higher",
        0.02,
        "worst",
        50,
    )
    assert policy.confidence_of(rule) == 0.95 and not rule.relative


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: []", "rules: must be a non-empty list"),
        ("rules:\n  - {probe: p, metric: m}", "rules[0]: missing key 'tolerance'"),
        ("rules:\n  - {probe: p, metric: m, tolerance: -1}", "rules[0].tolerance: must lie in [0.0, inf]"),
        (
            "rules:\n  - {probe: p, metric: m, tolerance: 1, tolerence: 2}",
            "rules[0]: unknown key(s) tolerence",
        ),
        ("rules:\n  - {probe: p, metric: m, tolerance: 1, groups: some}", "rules[0].groups: must be 'worst'"),
        ("rules:\n  - {probe: p, metric: m, tolerance: 1, worse: up}", "rules[0].worse: must be 'higher' or"),
        (
            "rules:\n  - {probe: toxicity, metric: toxicity_probability, tolerance: 1, worse: lower}",
            "worse is 'higher' by definition",
        ),
        (
            "confidence: 1.5\nrules:\n  - {probe: p, metric: m, tolerance: 1}",
            "confidence: must lie in (0.0, 1.0)",
        ),
        (
            "mode: often\nrules:\n  - {probe: p, metric: m, tolerance: 1}",
            "mode: must be one of fixed, sequential",
        ),
        (
            "rules:\n  - {probe: p, metric: m, tolerance: 1}\n  - {probe: p, metric: m, tolerance: 2}",
            "rules[1]: a second rule for p/m",
        ),
        ("rules: [", "not valid YAML"),
    ],
)
def test_bad_policies_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as error:
        load_policy(path)
    assert str(error.value).startswith(str(path))
    assert message in str(error.value)
