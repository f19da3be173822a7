"""End to end on the real embedded model and its 4-bit RTN variant: every RPC, then /metrics."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from .harness import embedded_config, metric_value, pb, serve

pytestmark = pytest.mark.slow


def test_serve_embedded_model_beside_its_compressed_variant(tmp_path: Path) -> None:
    config = embedded_config(
        tmp_path / "store.sqlite",
        replay={"items_per_cycle": 12, "continuous": False},
        service={"drain_seconds": 60},  # the generation in flight at SIGTERM below is to finish
    )
    with serve(config, tmp_path) as running:
        running.wait_serving(timeout=600)
        assert running.health() == health_pb2.HealthCheckResponse.SERVING
        stub = running.stub()
        variants = {v.name: v for v in stub.ListVariants(pb.ListVariantsRequest()).variants}
        assert variants["original"].model == "embedded:smollm2-135m"
        assert variants["rtn4"].compression.bits == 4 and variants["rtn4"].state == pb.Variant.READY
        answer = stub.Generate(pb.GenerateRequest(variant="original", prompt="Name a colour.",
                                                  settings=pb.GenerationSettings(max_new_tokens=8)))
        assert answer.text.strip()
        paris = stub.Score(pb.ScoreRequest(variant="original", context="The capital of France is",
                                           continuation=" Paris"))
        assert paris.is_greedy and paris.logprob > -1.0
        assert stub.StartReplay(pb.StartReplayRequest()).running
        done = running.wait_for(
            lambda: (s := stub.GetReplayStatus(pb.GetReplayStatusRequest())).cycles >= 1 and not s.running and s,
            timeout=600, what="the first round",
        )
        assert all(p.items_done == p.items_total == 2 for p in done.progress)
        rows = stub.GetDivergence(pb.GetDivergenceRequest(candidate="rtn4")).rows
        assert {r.probe for r in rows} >= {"crows_pairs", "bbq", "dialect", "perplexity", "toxicity"}
        gate = stub.GetGate(pb.GetGateRequest(candidate="rtn4"))
        assert gate.verdict != pb.GateVerdict.DECISION_UNSPECIFIED and gate.reasons
        first = next(iter(stub.WatchGate(pb.WatchGateRequest(candidate="rtn4"), timeout=30)))
        assert first.verdict == gate.verdict
        text = running.metrics()
        assert metric_value(text, "trustwatch_probe_metric", variant="rtn4", probe="perplexity",
                            metric="perplexity", group="all") > 1.0
        assert metric_value(text, "trustwatch_divergence", baseline="original", candidate="rtn4",
                            probe="perplexity", metric="perplexity", group="all") is not None
        assert metric_value(text, "trustwatch_gate_verdict", candidate="rtn4",
                            verdict=pb.GateVerdict.Decision.Name(gate.verdict)) == 1.0
        assert metric_value(text, "trustwatch_backend_request_seconds_count", variant="rtn4", kind="loglikelihood")
        assert metric_value(text, "trustwatch_probe_items_total", variant="original", probe="toxicity") == 2.0

        # SIGTERM while a long generation is in flight: it completes, then the server exits cleanly.
        results: list[object] = []

        def long_call() -> None:
            try:
                results.append(stub.Generate(pb.GenerateRequest(
                    variant="rtn4", prompt="Write a long story about the sea.",
                    settings=pb.GenerationSettings(max_new_tokens=48, temperature=0.7, seed=2))))
            except grpc.RpcError as error:
                results.append(error)

        thread = threading.Thread(target=long_call)
        thread.start()
        time.sleep(1.0)
        running.process.send_signal(signal.SIGTERM)
        thread.join(120)
        assert running.process.wait(120) == 0
        [result] = results
        assert isinstance(result, pb.GenerateResponse), result
        assert result.tokens > 0
