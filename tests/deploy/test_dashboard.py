"""Grafana dashboard and its provisioning: structure that Grafana needs to load and query it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.promql import DASHBOARDS, DEPLOY

PROVISIONING = DEPLOY / "grafana" / "provisioning"
DASHBOARD_FILES = sorted(DASHBOARDS.glob("*.json"))
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
METRICS = (
    "trustwatch_probe_metric", "trustwatch_divergence", "trustwatch_divergence_lower", "trustwatch_divergence_upper",
    "trustwatch_gate_verdict", "trustwatch_gate_tolerance", "trustwatch_probe_items_total",
    "trustwatch_replay_cycles_total", "trustwatch_replay_cycle_seconds_bucket",
    "trustwatch_backend_request_seconds_bucket", "trustwatch_errors_total", "trustwatch_variant_ready",
    "trustwatch_divergence_fdr_lower", "trustwatch_divergence_baseline_value", "trustwatch_divergence_candidate_value",
    "trustwatch_divergence_items", "trustwatch_probe_metric_items",
)


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _query_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def test_there_is_a_dashboard() -> None:
    assert DASHBOARD_FILES


def test_dashboard_uids_are_unique() -> None:
    uids = [_load(path)["uid"] for path in DASHBOARD_FILES]
    assert len(set(uids)) == len(uids) and all(uids)


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_every_panel_has_a_datasource_and_queries(path: Path) -> None:
    dashboard = _load(path)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(set(ids)) == len(ids), "panel ids must be unique"
    for panel in _query_panels(dashboard):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE and target["expr"].strip(), (panel["title"], target["refId"])


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_panels_fit_the_grid_without_overlapping(path: Path) -> None:
    cells: set[tuple[int, int]] = set()
    for panel in _load(path)["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & mine, f"{panel['title']!r} overlaps another panel"
        cells |= mine


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_template_variables_used_are_defined(path: Path) -> None:
    dashboard = _load(path)
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    assert "datasource" in defined
    text = json.dumps(dashboard["panels"]) + json.dumps(dashboard["templating"])
    used = {m for m in re.findall(r"\$\{?(\w+)", text) if not m.startswith("__")}
    assert used <= defined, used - defined
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"] == DATASOURCE and variable["allValue"] == ".*", variable["name"]


def test_dashboard_covers_the_issue_views_and_every_metric() -> None:
    dashboard = _load(DEPLOY / "grafana" / "dashboards" / "trustwatch.json")
    panels = _query_panels(dashboard)
    kinds = {p["type"] for p in panels}
    assert {"state-timeline", "heatmap", "timeseries", "bargauge"} <= kinds
    assert any(p.get("repeat") == "probe" for p in panels), "variants side by side, one panel per probe"
    exprs = " ".join(t["expr"] for p in panels for t in p["targets"])
    for metric in METRICS:
        assert re.search(rf"\b{metric}\b", exprs), metric
    bounds = next(p for p in panels if "trustwatch_divergence_lower" in json.dumps(p["targets"]))
    assert "trustwatch_divergence_upper" in json.dumps(bounds["targets"])


def test_provisioning_points_at_the_mounted_dashboards() -> None:
    [provider] = yaml.safe_load((PROVISIONING / "dashboards" / "trustwatch.yaml").read_text())["providers"]
    assert provider["type"] == "file"
    compose = yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"../grafana/dashboards:{provider['options']['path']}:ro" in mounts
    [datasource] = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yaml").read_text())["datasources"]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
