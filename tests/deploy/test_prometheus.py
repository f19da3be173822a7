"""Prometheus rules, their unit tests, and every PromQL expression of the deployment artefacts, run by promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.promql import (
    DASHBOARDS,
    DEPLOY,
    RULES,
    all_expressions,
    analysis_template_expressions,
    dashboard_expressions,
)

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian: apt-get install prometheus)"
)
RULE_TESTS = DEPLOY / "prometheus" / "trustwatch.rules.test.yaml"
PROMETHEUS_RULE = DEPLOY / "kubernetes" / "base" / "prometheusrule.yaml"
COMPOSE_PROMETHEUS = DEPLOY / "compose" / "prometheus.yml"
LABELS = 'job="trustwatch", instance="a:9464"'


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120)


def _run_promtool_tests(tmp_path: Path, tests: list[dict[str, object]]) -> subprocess.CompletedProcess[str]:
    shutil.copy(RULES, tmp_path / RULES.name)
    spec = {"rule_files": [RULES.name], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "generated.test.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return _promtool("test", "rules", "generated.test.yaml", cwd=tmp_path)


@needs_promtool
def test_rules_pass_promtool_check() -> None:
    result = _promtool("check", "rules", RULES.name, cwd=RULES.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
def test_rules_pass_their_unit_tests() -> None:
    result = _promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test() -> None:
    alerts = {e.where.rsplit(" ", 1)[1] for e in all_expressions() if ": alert " in e.where}
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert alerts == tested


@needs_promtool
def test_compose_prometheus_config_passes_promtool_check() -> None:
    result = _promtool("check", "config", COMPOSE_PROMETHEUS.name, cwd=COMPOSE_PROMETHEUS.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = [job["job_name"] for job in yaml.safe_load(COMPOSE_PROMETHEUS.read_text())["scrape_configs"]]
    assert "trustwatch" in jobs, 'the rules watch up{job="trustwatch"}'


def test_prometheus_rule_resource_carries_the_rule_file() -> None:
    resource = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert resource["kind"] == "PrometheusRule"
    assert resource["spec"] == yaml.safe_load(RULES.read_text()), (
        f"{PROMETHEUS_RULE} is out of step with {RULES}: copy the groups over"
    )


def _synthetic_series() -> list[dict[str, str]]:
    """Every metric trustwatch exports, for one baseline, one candidate, one probe, two groups."""
    series: list[tuple[str, str]] = []
    for verdict, value in (("FAIL", 0), ("INCONCLUSIVE", 1), ("PASS", 0)):
        series.append((f'trustwatch_gate_verdict{{{LABELS}, candidate="rtn-w3", verdict="{verdict}"}}', f"{value}x30"))
    pm = 'probe="crows_pairs", metric="stereotype_score"'
    series.append((f'trustwatch_gate_tolerance{{{LABELS}, candidate="rtn-w3", {pm}, scale="absolute"}}', "3x30"))
    for group in ("all", "female"):
        for variant, value in (("original", 60), ("rtn-w3", 62)):
            series.append((f'trustwatch_probe_metric{{{LABELS}, variant="{variant}", {pm}, group="{group}"}}', f"{value}x30"))
            series.append((f'trustwatch_probe_metric_items{{{LABELS}, variant="{variant}", {pm}, group="{group}"}}', "40x30"))
        paired = f'{LABELS}, baseline="original", candidate="rtn-w3", {pm}, group="{group}"'
        div = f'{paired}, scale="absolute"'
        series += [(f"trustwatch_divergence{{{div}}}", "2x30"), (f"trustwatch_divergence_lower{{{div}}}", "-1x30"),
                   (f"trustwatch_divergence_upper{{{div}}}", "5x30"), (f"trustwatch_divergence_fdr_lower{{{div}}}", "-2x30"),
                   (f"trustwatch_divergence_baseline_value{{{paired}}}", "60x30"),
                   (f"trustwatch_divergence_candidate_value{{{paired}}}", "62x30"),
                   (f"trustwatch_divergence_items{{{paired}}}", "32x30")]
    for variant in ("original", "rtn-w3"):
        series.append((f'trustwatch_probe_items_total{{{LABELS}, variant="{variant}", probe="crows_pairs"}}', "0+32x30"))
        series.append((f'trustwatch_errors_total{{{LABELS}, variant="{variant}", stage="score"}}', "0+1x30"))
        series.append((f'trustwatch_variant_ready{{{LABELS}, variant="{variant}"}}', "1x30"))
        for kind in ("loglikelihood", "generate"):
            for le, rate in (("0.1", 10), ("1", 30), ("+Inf", 32)):
                series.append((f'trustwatch_backend_request_seconds_bucket{{{LABELS}, variant="{variant}", kind="{kind}", le="{le}"}}',
                               f"0+{rate}x30"))
    series.append((f"trustwatch_replay_cycles_total{{{LABELS}}}", "0+1x30"))
    for le, rate in (("10", 0), ("60", 1), ("+Inf", 1)):
        series.append((f'trustwatch_replay_cycle_seconds_bucket{{{LABELS}, le="{le}"}}', f"0+{rate}x30"))
    series.append((f"up{{{LABELS}}}", "1x30"))
    return [{"series": name, "values": values} for name, values in series]


@needs_promtool
def test_every_dashboard_and_analysis_expression_runs_and_returns_data(tmp_path: Path) -> None:
    expressions = [e for path in sorted(DASHBOARDS.glob("*.json")) for e in dashboard_expressions(path)]
    expressions += analysis_template_expressions(args={"candidate": "rtn-w3"})
    assert len(expressions) > 15
    # absent(x) is empty exactly when x returns at least one series: promtool fails the case otherwise,
    # naming the expression.
    cases = [{"expr": f"absent({e.expr})", "eval_time": "20m", "exp_samples": []} for e in expressions]
    result = _run_promtool_tests(tmp_path, [{"interval": "1m", "input_series": _synthetic_series(),
                                             "promql_expr_test": cases}])
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_analysis_template_query_maps_verdicts_to_its_conditions(tmp_path: Path) -> None:
    series = []
    for candidate, current in (("passing", "PASS"), ("failing", "FAIL"), ("undecided", "INCONCLUSIVE")):
        for verdict in ("PASS", "FAIL", "INCONCLUSIVE"):
            series.append({"series": f'trustwatch_gate_verdict{{{LABELS}, candidate="{candidate}", verdict="{verdict}"}}',
                           "values": f"{int(verdict == current)}x10"})
    # A second instance that still says INCONCLUSIVE for "passing": the worse report counts.
    series.append({"series": 'trustwatch_gate_verdict{job="trustwatch", instance="b:9464", candidate="split", verdict="PASS"}',
                   "values": "1x10"})
    series.append({"series": 'trustwatch_gate_verdict{job="trustwatch", instance="c:9464", candidate="split", verdict="FAIL"}',
                   "values": "1x10"})
    # Argo: successCondition result[0] == 0 (PASS), failureCondition result[0] == 2 (FAIL), else inconclusive.
    expected = {"passing": 0, "failing": 2, "undecided": 1, "split": 2, "not-reported-yet": 1}
    cases = []
    for candidate, code in expected.items():
        [query] = analysis_template_expressions(args={"candidate": candidate})
        cases.append({"expr": query.expr, "eval_time": "5m", "exp_samples": [{"labels": "{}", "value": code}]})
    result = _run_promtool_tests(tmp_path, [{"interval": "1m", "input_series": series, "promql_expr_test": cases}])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promql_helper_substitutes_every_template_variable() -> None:
    for expression in all_expressions():
        assert "$" not in expression.expr.replace("$labels", "").replace("$value", ""), expression
        assert "{{args." not in expression.expr, expression
    dashboard = [e for path in sorted(DASHBOARDS.glob("*.json")) for e in dashboard_expressions(path)]
    # ".*" only makes sense after =~: a template variable after = would match nothing.
    for expression in dashboard:
        assert '=".*"' not in expression.expr, expression
