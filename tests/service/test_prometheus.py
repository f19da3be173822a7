"""A real Prometheus scrapes the service; PromQL over trustwatch_divergence agrees with the gRPC API."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

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
                (r["metric"]["probe"], r["metric"]["metric"], r["metric"]["group"]): float(r["value"][1])
                for r in result
            }
            finite = [r for r in rows if math.isfinite(r.degradation)]
            assert len(scraped) == len(finite)
            for row in finite:
                assert scraped[(row.probe, row.metric, row.group)] == pytest.approx(row.degradation, rel=1e-9)
            upper = prom.query('trustwatch_divergence_upper{candidate="rtn4",group="all"}')["result"]
            assert upper and all(r["metric"]["baseline"] == "original" for r in upper)
            verdict = prom.query('trustwatch_gate_verdict{candidate="rtn4"} == 1')["result"]
            gate = stub.GetGate(pb.GetGateRequest(candidate="rtn4"))
            assert [r["metric"]["verdict"] for r in verdict] == [pb.GateVerdict.Decision.Name(gate.verdict)]
