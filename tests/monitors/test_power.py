"""Intervals that hold their level with few clusters, and a default policy that can PASS at the
sizes of the public probe sets (issue 14)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trustwatch.common.groups import OVERALL
from trustwatch.common.metrics import METRICS_BY_KEY
from trustwatch.monitors.divergence import divergence, expanded_alpha, unexpanded_alpha
from trustwatch.monitors.outcomes import OutcomeTable
from trustwatch.monitors.policy import capacity_notes, load_policy, policy_from_dict
from trustwatch.monitors.simulate import PUBLIC_SIZES, bbq_disambig_rows, cluster_coverage
from trustwatch.probes.loaders import LOADERS
from trustwatch.server.config import load_config
from trustwatch.server.probe_sources import collect_items
from trustwatch.server.runtime import group_sizes

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_CONFIG = ROOT / "probes" / "configs" / "public-probesets.yaml"
PROBESETS = ROOT.parent / "shared" / "probesets"


def test_expanded_percentile_level_and_its_inverse() -> None:
    # Hesterberg 2015: z' = sqrt(n / (n - 1)) t_{n-1}; 10 clusters read the replicates at
    # 2 (1 - Phi(sqrt(10/9) 2.2622)) = 0.0171 instead of 0.05.
    assert expanded_alpha(0.05, 10) == pytest.approx(0.0171, abs=2e-4)
    assert expanded_alpha(0.05, 25) < expanded_alpha(0.05, 150) < 0.05
    assert expanded_alpha(0.05, 100_000) == pytest.approx(0.05, rel=1e-3)
    assert expanded_alpha(0.05, 1) == 0.05
    for units in (5, 10, 25, 150):
        for alpha in (0.001, 0.05, 0.3):
            assert unexpanded_alpha(expanded_alpha(alpha, units), units) == pytest.approx(alpha, rel=1e-9)


def _category(templates: int, seed: int) -> OutcomeTable:
    return OutcomeTable.from_rows(bbq_disambig_rows(templates, np.random.default_rng(seed), shift=0.1))


def test_cluster_interval_is_wider_than_percentile_and_dual_to_its_p_value() -> None:
    spec = METRICS_BY_KEY[("bbq", "bias_score_disambig")]
    (row,) = [
        r for r in divergence(_category(10, 3), "original", "candidate", metrics=[spec], resamples=2000)
        if r.group == OVERALL
    ]
    assert row.method == "cluster-bootstrap" and row.n_units == 10
    replicates = row.sampler.replicates  # type: ignore[union-attr]
    plain_low, plain_high = np.quantile(replicates, [0.025, 0.975])
    # The expanded interval contains the percentile interval, and reads it at alpha' = 0.017.
    assert row.lower < plain_low and row.upper > plain_high
    assert row.lower == pytest.approx(float(np.quantile(replicates, expanded_alpha(0.05, 10) / 2)))
    # Duality: the lower bound at level 1 - alpha clears a threshold exactly when p < alpha.
    # (Up to the bootstrap p-value's (below + 1) / (B + 1) resolution.)
    for alpha in (0.05, 0.2):
        low = row.bounds(alpha)[0]
        assert row.p_value(low - 0.01) < alpha < row.p_value(low + 0.01)


def test_cluster_interval_holds_its_level_with_ten_clusters() -> None:
    # 10 templates, template-level candidate changes: the percentile interval misses the true
    # degradation about 8% of the time (bench_stats --calibration), the expanded one about 5%.
    result = cluster_coverage(10, 300, resamples=1000, seed=11)
    assert result.miss <= 0.075
    assert result.miss < result.miss_percentile


def test_capacity_notes_name_rule_group_and_counts() -> None:
    policy = policy_from_dict(
        {"rules": [{"probe": "stereotype_agreement", "metric": "agreement_index", "tolerance": 0.1}]}, "strict.yaml"
    )
    sizes = {"stereotype_agreement": {"Muslims": 48, "Immigrants": 48}, "bbq": {"Age": 10}}
    (note,) = capacity_notes(policy, sizes)
    assert "strict.yaml" in note and "stereotype_agreement/agreement_index" in note
    assert "min_items 50" in note and "'Muslims' has 48" in note and "'Immigrants' has 48" in note
    assert "cannot PASS" in note
    overall = policy_from_dict(
        {"rules": [{"probe": "stereotype_agreement", "metric": "agreement_index", "tolerance": 0.1,
                    "groups": "overall"}]}
    )
    assert capacity_notes(overall, sizes) == []


def test_default_policy_admits_decodingtrust_48_per_group() -> None:
    items = LOADERS["decodingtrust_stereotype"].load(str(PROBESETS))
    sizes = group_sizes(items)
    assert set(sizes["stereotype_agreement"].values()) == {48}
    assert capacity_notes(load_policy(None), sizes) == []
    assert capacity_notes(load_policy(None), PUBLIC_SIZES) == []


def test_public_probesets_config_fits_the_default_policy() -> None:
    config = load_config(PUBLIC_CONFIG)
    assert [v.name for v in config.variants] == ["original", "rtn-8bit", "magnitude-50"]
    sizes = group_sizes(collect_items(config.probes))
    assert capacity_notes(load_policy(config.policy), sizes) == []
    # The simulation's sizes are the config's.
    for probe, groups in PUBLIC_SIZES.items():
        assert sorted(sizes[probe].values()) == sorted(groups.values()), probe


@pytest.mark.slow
def test_calibration_quick_prints_every_section() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trustwatch.bench.bench_stats", "--calibration", "--quick"],
        capture_output=True, text=True, timeout=900, check=True,
    )
    out = result.stdout
    for heading in ("Gate FAIL rates", "Default policy at public sizes", "Planted shifts",
                    "Sequential items_needed", "Coverage of bias_score_disambig"):
        assert heading in out, out
    assert not math.isnan(float(out.split("fixed:      PASS ")[1].split()[0]))


def test_start_up_warns_when_min_items_exceeds_a_group(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from trustwatch.server.runtime import build_runtime

    (tmp_path / "strict.yaml").write_text(
        "rules:\n  - {probe: stereotype_agreement, metric: agreement_index, tolerance: 0.1, min_items: 50}\n",
        encoding="utf-8",
    )
    (tmp_path / "run.yaml").write_text(
        "baseline: original\n"
        "variants:\n  - {name: original, model: 'embedded:smollm2-135m'}\n"
        "  - {name: rtn-8bit, from: original, compress: {method: rtn, bits: 8, group_size: 64}}\n"
        f"probes:\n  - {{data: {PROBESETS}, loader: decodingtrust_stereotype}}\n"
        "policy: strict.yaml\n",
        encoding="utf-8",
    )
    with caplog.at_level("WARNING", logger="trustwatch.runtime"):
        runtime = build_runtime(load_config(tmp_path / "run.yaml"), tmp_path / "store.sqlite")
    runtime.close()
    (record,) = [r for r in caplog.records if r.name == "trustwatch.runtime"]
    message = record.getMessage()
    assert "strict.yaml" in message and "stereotype_agreement/agreement_index" in message
    assert "min_items 50" in message and "has 48" in message and "and 19 more" in message


def test_no_shift_candidate_passes_at_public_sizes_and_one_row_at_tolerance_does_not() -> None:
    # The power analysis in miniature (bench_stats --calibration: 89% PASS of 100, FAIL 0).
    from trustwatch.monitors.simulate import public_power

    policy = load_policy(None)
    null = public_power(3, policy, seed=300)
    assert null.verdicts.get("PASS", 0) >= 2 and null.verdicts.get("FAIL", 0) == 0
    assert {rule.rule for rule in null.rules} >= {"stereotype_agreement/agreement_index", "bbq/bias_score_disambig"}
    # DecodingTrust's 48-statement groups are tested, not "insufficient".
    agreement = next(rule for rule in null.rules if rule.rule == "stereotype_agreement/agreement_index")
    assert agreement.min_items == 48 and agreement.rows == 25
    boundary = public_power(2, policy, shift={("crows_pairs", "stereotype_score", "race-color"): 10.0}, seed=301)
    assert boundary.verdicts.get("PASS", 0) == 0
