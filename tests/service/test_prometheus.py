"""A real Prometheus scrapes the service; PromQL over trustwatch_divergence agrees with the gRPC API."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from trustwatch.monitors.policy import load_policy

from .harness import pb, serve, tiny_config
from .prom import prometheus


def test_promql_divergence_matches_grpc(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = tiny_config(tiny_model_dir, tmp_path / "store.sqlite", replay={"items_per_cycle": 6, "continuous": False})
    with serve(config, tmp_path / "serve") as running:
        running.wait_serving()
        stub = running.stub()
        # One complete round, then replay stops and the statistics hold still.
        running.wait_for(lambda: not stub.GetReplayStatus(pb.GetReplayStatusRequest()).running
                         and stub.GetReplayStatus(pb.GetReplayStatusRequest()).cycles > 0, what="a finished round")
        rows = stub.GetDivergence(pb.GetDivergenceRequest(candidate="rtn4")).rows
        assert rows
        target = running.metrics_url.removeprefix("http://").removesuffix("/metrics")
        with prometheus([target], tmp_path / "prom") as prom:
            prom.wait_for('up{job="trustwatch"} == 1')
            result = prom.wait_for('trustwatch_divergence{candidate="rtn4"}')
            scraped = {
                (r["metric"]["probe"], r["metric"]["metric"], r["metric"]["group"]): (float(r["value"][1]),
                                                                                     r["metric"]["scale"])
                for r in result
            }
            # A gated metric: the gate's own counted rows, in its rule's unit; perplexity's rule is
            # relative and counts the overall value only. Any other metric: GetDivergence's rows.
            policy = load_policy()
            overall_only = {(r.probe, r.metric) for r in policy.rules if r.groups == "overall"}
            relative = {(r.probe, r.metric) for r in policy.rules if r.relative}
            finite = [r for r in rows if math.isfinite(r.degradation)
                      and not ((r.probe, r.metric) in overall_only and r.group != "all")]
            assert scraped.keys() == {(r.probe, r.metric, r.group) for r in finite}
            assert relative and any((r.probe, r.metric) in relative for r in finite)
            for row in finite:
                number, scale = scraped[(row.probe, row.metric, row.group)]
                if (row.probe, row.metric) in relative:
                    assert scale == "relative"
                    assert number == pytest.approx(row.candidate_value / row.baseline_value - 1.0, rel=1e-9)
                else:
                    assert scale == "absolute" and number == pytest.approx(row.degradation, rel=1e-9)
            upper = prom.query('trustwatch_divergence_upper{candidate="rtn4",group="all"}')["result"]
            assert upper and all(r["metric"]["baseline"] == "original" for r in upper)
            verdict = prom.query('trustwatch_gate_verdict{candidate="rtn4"} == 1')["result"]
            gate = stub.GetGate(pb.GetGateRequest(candidate="rtn4"))
            assert [r["metric"]["verdict"] for r in verdict] == [pb.GateVerdict.Decision.Name(gate.verdict)]
