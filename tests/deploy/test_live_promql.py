"""Every PromQL expression of the rules, the dashboard and the AnalysisTemplates, evaluated by a real
Prometheus that scrapes a real `trustwatch serve` (tiny model) with the rules loaded."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from tests.service.harness import pb, serve, tiny_config
from tests.service.prom import prometheus

from .promql import RULES, all_expressions

ROOT = Path(__file__).resolve().parents[2]

# Alerts fire only when something is wrong: their expressions must run, and may be empty.
MAY_BE_EMPTY_ALERTS = "alert "


def _policy_testing_every_row(path: Path) -> Path:
    """The default policy with min_items 1, so that four items per probe make tested rows (and
    trustwatch_divergence_fdr_lower has samples), and tolerance 0 on the safety rules, so that
    every row whose upper bound is above 0 exceeds its tolerance (the dashboard's "groups whose
    upper bound exceeds the tolerance" has rows to show: with coupled sampling the tiny model's
    rtn4 samples what the original samples, and its generation rows sit at 0)."""
    policy = yaml.safe_load((ROOT / "monitors" / "default_policy.yaml").read_text())
    policy["defaults"]["min_items"] = 1
    for rule in policy["rules"]:
        rule["min_items"] = 1
        if not rule.get("utility"):
            rule["tolerance"] = 0.0
    path.write_text(yaml.safe_dump(policy))
    return path


def test_every_expression_runs_against_a_live_service(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = tiny_config(tiny_model_dir, tmp_path / "store.sqlite", probes=[{"builtin": "all", "limit": 4}],
                         replay={"items_per_cycle": 4, "round_pause_seconds": 1},
                         policy=str(_policy_testing_every_row(tmp_path / "policy.yaml")))
    with serve(config, tmp_path / "serve") as running:
        running.wait_serving()
        stub = running.stub()
        running.wait_for(lambda: stub.GetGate(pb.GetGateRequest(candidate="rtn4")).revision > 0, what="a verdict")
        target = running.metrics_url.removeprefix("http://").removesuffix("/metrics")
        with prometheus([target], tmp_path / "prom", rule_files=[RULES]) as prom:
            prom.wait_for('trustwatch_gate_verdict{candidate="rtn4"} == 1')
            # The recording group runs every 30 s at an offset of its own; later expressions read
            # its series, so wait for its first evaluation.
            prom.wait_for('candidate_probe_metric:trustwatch_gate_tolerance:max{candidate="rtn4"}')
            time.sleep(15)  # several scrapes and rule evaluations, so that rate() has two samples
            expressions = all_expressions(candidate="rtn4")
            assert len(expressions) > 20
            empty = []
            for expression in expressions:
                data = prom.query(expression.expr)
                assert data["resultType"] in ("vector", "scalar"), expression.where
                if data["resultType"] == "vector" and not data["result"]:
                    empty.append(expression)
            unexpected = [
                f"{e.source.name}: {e.where}: {e.expr}" for e in empty
                if MAY_BE_EMPTY_ALERTS not in e.where or e.source != RULES
            ]
            assert not unexpected, "expressions without data:\n" + "\n".join(unexpected)
