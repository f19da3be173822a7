"""What /metrics exports is what the gate reads: on a real run of the embedded model against its
4-bit RTN variant, every exported divergence row, bound and tolerance is in the unit of the rule
that reads it and equals the gate's own row; per-variant gauges and divergence rows say which items
they count (a store with an incomplete round); undefined rows say why."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from trustwatch.common.metrics import scale_of
from trustwatch.monitors.divergence import divergence, resolve_metric
from trustwatch.monitors.gate import evaluate_gate
from trustwatch.monitors.outcomes import OutcomeTable
from trustwatch.monitors.policy import load_policy
from trustwatch.probes.aggregate import aggregate
from trustwatch.probes.builtin import builtin_pack
from trustwatch.probes.kinds.likelihood import bbq_values
from trustwatch.server.analysis import Analysis, analyse
from trustwatch.server.exporter import Exporter, snapshot_of
from trustwatch.server.store import ItemRecord, Store

pytestmark = pytest.mark.slow

EXE = Path(sys.executable).with_name("trustwatch")
BASELINE, CANDIDATE = "original", "rtn-4bit"
Sample = tuple[str, dict[str, str], float]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Outcome rows of ``trustwatch run``: the embedded model and its RTN 4-bit variant on the built-in
    packs (every likelihood item; a few generation items, which are slow on a CPU)."""
    folder = tmp_path_factory.mktemp("real-run")
    config = {
        "baseline": BASELINE,
        "variants": [
            {"name": BASELINE, "model": "embedded:smollm2-135m"},
            {"name": CANDIDATE, "from": BASELINE, "compress": {"method": "rtn", "bits": 4, "group_size": 64}},
        ],
        "probes": [{"builtin": p} for p in ("perplexity", "crows_pairs", "bbq", "dialect")]
        + [{"builtin": p, "limit": 4} for p in ("toxicity", "stereotype_agreement")],
        "generation": {"k": 2, "max_new_tokens": 8},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([str(EXE), "run", "--config", str(folder / "config.yaml"), "--out", str(folder / "out"),
                           "--quiet"], capture_output=True, text=True, env=env, timeout=1800, check=False)
    assert done.returncode in (0, 1, 2), done.stderr
    store = Store(folder / "out" / "store.sqlite")
    try:
        return store.outcome_rows()
    finally:
        store.close()


def scrape(analysis: Analysis, policy: Any) -> dict[str, list[Sample]]:
    """/metrics text of the exporter fed as the service feeds it, parsed back."""
    exporter = Exporter()
    exporter.publish(snapshot_of(BASELINE, analysis, policy, [CANDIDATE], {BASELINE: True, CANDIDATE: True}))
    out: dict[str, list[Sample]] = defaultdict(list)
    for family in text_string_to_metric_families(generate_latest(exporter.registry).decode()):
        for sample in family.samples:
            out[sample.name].append((sample.name, dict(sample.labels), float(sample.value)))
    return out


def by_row(samples: list[Sample]) -> dict[tuple[str, str, str, str], tuple[float, dict[str, str]]]:
    return {(s[1]["candidate"], s[1]["probe"], s[1]["metric"], s[1]["group"]): (s[2], s[1]) for s in samples}


def test_exported_bounds_and_tolerances_are_the_gates_own_rows(real_run: list[dict[str, Any]]) -> None:
    policy = load_policy()
    analysis = analyse(real_run, BASELINE, [CANDIDATE], policy)
    verdict = analysis.verdict_of(CANDIDATE)
    assert verdict is not None
    metrics = scrape(analysis, policy)
    value, lower, upper = (by_row(metrics[n]) for n in
                           ("trustwatch_divergence", "trustwatch_divergence_lower", "trustwatch_divergence_upper"))
    fdr_lower = by_row(metrics["trustwatch_divergence_fdr_lower"])
    tolerance = {(s[1]["candidate"], s[1]["probe"], s[1]["metric"]): (s[2], s[1]["scale"])
                 for s in metrics["trustwatch_gate_tolerance"]}
    checked = 0
    for rule in policy.rules:
        metric = resolve_metric(rule.probe, rule.metric, rule.worse).name
        counted = [r for r in verdict.rows if r.rule == rule.key and r.divergence is not None]
        exported = {key for key in value if key[1:3] == (rule.probe, metric)}
        # Only the groups the rule counts are exported under its name (perplexity: overall only).
        assert exported == {(CANDIDATE, rule.probe, metric, r.group) for r in counted}, rule.key
        if not counted:
            assert (CANDIDATE, rule.probe, metric) not in tolerance, rule.key
            continue
        number, scale = tolerance[(CANDIDATE, rule.probe, metric)]
        assert number == rule.tolerance and scale == scale_of(rule.relative), rule.key
        for row in counted:
            div = row.divergence
            assert div is not None and div.relative == rule.relative
            key = (CANDIDATE, rule.probe, metric, row.group)
            for exported_rows, own in ((value, div.degradation), (lower, div.lower), (upper, div.upper)):
                if math.isfinite(own):
                    got, labels = exported_rows[key]
                    assert got == pytest.approx(own, rel=1e-12, abs=1e-12), (rule.key, row.group)
                    assert labels["scale"] == scale, (rule.key, row.group)
                else:
                    assert key not in exported_rows
            if row.fdr_lower is None or not math.isfinite(row.fdr_lower):
                assert key not in fdr_lower
            else:
                assert fdr_lower[key][0] == pytest.approx(row.fdr_lower, rel=1e-12, abs=1e-12)
                # The alert "regression established" (fdr_lower - tolerance > 0) fires where the gate FAILs.
                assert (fdr_lower[key][0] > number) == (row.status == "fail"), (rule.key, row.group)
            checked += 1
    assert checked >= 10
    # The utility rule that reads perplexity relatively: its exported bounds are fractions of the
    # baseline's perplexity, beside its relative tolerance (today's main exported perplexity points).
    [ppl] = [r for r in verdict.rows if r.rule == "perplexity/perplexity"]
    assert ppl.divergence is not None and ppl.divergence.relative
    got, labels = upper[(CANDIDATE, "perplexity", "perplexity", "all")]
    assert labels["scale"] == "relative" and got == pytest.approx(ppl.divergence.upper)
    assert abs(ppl.divergence.difference) > 5 * abs(ppl.divergence.degradation)  # points vs a fraction
    assert (CANDIDATE, "perplexity", "perplexity", "all") in fdr_lower  # 24 texts >= min_items: tested


def _records(rows: list[dict[str, Any]], variant: str) -> Iterator[ItemRecord]:
    items: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["variant"] == variant:
            items[row["item_id"]].append(row)
    for item_id, outcomes in items.items():
        first = outcomes[0]
        yield ItemRecord(item_id, first["probe"], first["group"],
                         [{"metric": o["metric"], "value": o["value"], "template": o.get("template")} for o in outcomes])


def test_gauges_and_divergence_rows_say_which_items_they_count(
    real_run: list[dict[str, Any]], tmp_path: Path
) -> None:
    """A store mid-round: the baseline has answered every item, the candidate not yet the last
    crows_pairs and bbq items. The per-variant gauge counts what the baseline answered; the
    divergence row's paired values count the paired items, and both say how many."""
    store = Store(tmp_path / "partial.sqlite")
    store.record(BASELINE, 1, list(_records(real_run, BASELINE)))
    candidate = list(_records(real_run, CANDIDATE))
    held_back = {r.item_id for probe in ("crows_pairs", "bbq") for r in [c for c in candidate if c.probe == probe][-5:]}
    store.record(CANDIDATE, 1, [r for r in candidate if r.item_id not in held_back])
    rows = store.outcome_rows()
    store.close()
    policy = load_policy()
    analysis = analyse(rows, BASELINE, [CANDIDATE], policy)
    metrics = scrape(analysis, policy)
    variant_items = {(s[1]["variant"], s[1]["probe"], s[1]["metric"], s[1]["group"]): s[2]
                     for s in metrics["trustwatch_probe_metric_items"]}
    variant_value = {(s[1]["variant"], s[1]["probe"], s[1]["metric"], s[1]["group"]): s[2]
                     for s in metrics["trustwatch_probe_metric"]}
    paired_items = by_row(metrics["trustwatch_divergence_items"])
    paired_base = by_row(metrics["trustwatch_divergence_baseline_value"])
    paired_cand = by_row(metrics["trustwatch_divergence_candidate_value"])
    # The paired values are the item set the gate compares: the baseline's value over the paired items.
    paired_ids = {r["item_id"] for r in rows if r["variant"] == CANDIDATE}
    on_paired = {(r["probe"], r["metric"], r["group"]): r for r in
                 aggregate([r for r in rows if r["variant"] == BASELINE and r["item_id"] in paired_ids])}
    seen_apart = 0
    for verdict in analysis.verdicts:
        for reason in verdict.rows:
            row = reason.divergence
            if row is None or not math.isfinite(row.baseline_value):
                continue
            key = (CANDIDATE, row.probe, row.metric, row.group)
            assert paired_items[key][0] == row.n_items
            assert paired_base[key][0] == pytest.approx(row.baseline_value, rel=1e-12)
            assert paired_cand[key][0] == pytest.approx(row.candidate_value, rel=1e-12)
            if not row.outcome_level and (row.probe, row.metric, row.group) in on_paired:
                assert paired_base[key][0] == pytest.approx(on_paired[(row.probe, row.metric, row.group)]["value"])
            if not row.relative:  # the paired gauges' difference is the gate's
                sign = 1.0 if row.worse == "higher" else -1.0
                assert sign * (paired_cand[key][0] - paired_base[key][0]) == pytest.approx(row.degradation, abs=1e-9)
            answered = variant_items.get((BASELINE, row.probe, row.metric, row.group))
            if row.probe in ("crows_pairs", "bbq") and row.group == "all" and answered is not None:
                assert answered > row.n_items  # the per-variant gauge counts the unpaired items too
                seen_apart += 1
    assert seen_apart >= 2
    crows = (CANDIDATE, "crows_pairs", "stereotype_score", "all")
    assert variant_items[(BASELINE, "crows_pairs", "stereotype_score", "all")] == 20 and paired_items[crows][0] == 15
    assert variant_value[(BASELINE, "crows_pairs", "stereotype_score", "all")] is not None


def test_a_perfect_bbq_answerer_has_a_bias_score_and_undefined_rows_say_why(real_run: list[dict[str, Any]]) -> None:
    """The real baseline's BBQ outcomes against two answerers on the same built-in items: one always
    right (bias_score_ambig is 0, its limit, and it can PASS), one always "unknown" (s_DIS is 0/0 in
    disambiguated contexts: the row is undefined, says why, and holds the verdict INCONCLUSIVE)."""
    baseline = [r for r in real_run if r["variant"] == BASELINE and r["probe"] == "bbq"]
    items = builtin_pack("bbq")
    rows = list(baseline)
    for name, choose in (("perfect", lambda p: p["label"]), ("unknown", lambda p: p["unknown"])):
        for item in items:
            rows += [{"item_id": item.id, "variant": name, "probe": "bbq", "group": item.group, "metric": metric,
                      "value": number, "template": item.template}
                     for metric, number in bbq_values(item.payload, choose(item.payload)).items()]
    metrics = {(r["variant"], r["metric"], r["group"]): r["value"] for r in aggregate(rows)}
    assert metrics[("perfect", "bias_score_ambig", "all")] == 0.0
    assert all(metrics[("perfect", "bias_score_ambig", item.group)] == 0.0 for item in items)
    table = OutcomeTable.from_rows(rows, source="real bbq outcomes")
    # The built-in pack has 24 BBQ items: every row counts (min_items 1), so none is merely insufficient.
    default = load_policy()
    policy = replace(default, rules=tuple(replace(rule, min_items=1) for rule in default.rules))
    found = divergence(table, BASELINE, "perfect", metrics=[resolve_metric("bbq", "bias_score_ambig")],
                       resamples=200)
    assert found and all(math.isfinite(r.candidate_value) and math.isfinite(r.upper) for r in found)
    assert all(r.candidate_value == 0.0 and not r.undefined_reason for r in found)
    [perfect] = evaluate_gate(table, policy, baseline=BASELINE, candidates=["perfect"])
    assert not [r for r in perfect.rows if r.status == "undefined"]
    [unknown] = evaluate_gate(table, policy, baseline=BASELINE, candidates=["unknown"])
    undefined = [r for r in unknown.rows if r.status == "undefined"]
    assert undefined and {r.rule for r in undefined} == {"bbq/bias_score_disambig"}
    for row in undefined:
        assert "unknown" in row.reason and "non_unknown_disambig" in row.reason and "counted as insufficient" in row.reason
        assert row.divergence is not None and "non_unknown_disambig" in row.divergence.undefined_reason
    assert unknown.verdict != "PASS"
    assert any("undefined" in note and "bbq/bias_score_disambig" in note for note in unknown.notes)
