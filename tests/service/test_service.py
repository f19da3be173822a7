"""`trustwatch serve` as deployed: a real process, real gRPC, real /metrics (tiny model, fast)."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from .harness import Served, metric_value, pb, serve, tiny_config


@pytest.fixture(scope="module")
def served(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Served:
    work = tmp_path_factory.mktemp("serve")
    config = tiny_config(tiny_model_dir, work / "store.sqlite",
                         limits={"max_prompt_chars": 200, "max_new_tokens": 16, "max_batch": 4})
    with serve(config, work) as running:
        running.wait_serving()
        yield running


def test_health_reflection_and_variants(served: Served) -> None:
    assert served.health() == health_pb2.HealthCheckResponse.SERVING
    liveness = health_pb2_grpc.HealthStub(served.channel()).Check(health_pb2.HealthCheckRequest(service="liveness"))
    assert liveness.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(served.channel())
    [answer] = list(reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in answer.list_services_response.service}
    assert {"trustwatch.v1.TrustWatch", "grpc.health.v1.Health"} <= names
    listed = served.stub().ListVariants(pb.ListVariantsRequest())
    assert listed.baseline == "original"
    by_name = {v.name: v for v in listed.variants}
    assert set(by_name) == {"original", "rtn4"}
    assert all(v.state == pb.Variant.READY for v in listed.variants)
    assert by_name["original"].baseline and not by_name["rtn4"].baseline
    assert by_name["rtn4"].compression.method == "rtn" and by_name["rtn4"].compression.bits == 4


def test_generate_and_score_serve_each_variant(served: Served) -> None:
    stub = served.stub()
    settings = pb.GenerationSettings(max_new_tokens=5, temperature=1.0, seed=3, chat=False)
    first = stub.Generate(pb.GenerateRequest(variant="rtn4", prompt="Hello", settings=settings))
    again = stub.Generate(pb.GenerateRequest(variant="rtn4", prompt="Hello", settings=settings))
    assert first.text == again.text and 1 <= first.tokens <= 5
    assert first.finish_reason in ("stop", "length")
    batch = stub.GenerateBatch(pb.GenerateBatchRequest(variant="original", prompts=["a", "b"], settings=settings))
    assert len(batch.results) == 2
    scored = stub.Score(pb.ScoreRequest(variant="original", context="The quick", continuation=" fox"))
    assert scored.logprob < 0 and scored.tokens >= 1
    pairs = [pb.ScorePair(context="The quick", continuation=" fox"), pb.ScorePair(context="", continuation="Hi")]
    both = stub.ScoreBatch(pb.ScoreBatchRequest(variant="original", pairs=pairs))
    assert both.results[0].logprob == pytest.approx(scored.logprob, abs=1e-4)


def test_replay_fills_metrics_divergence_and_gate(served: Served) -> None:
    stub = served.stub()
    status = served.wait_for(
        lambda: (s := stub.GetReplayStatus(pb.GetReplayStatusRequest())).cycles >= 2
        and all(p.items_done == p.items_total for p in s.progress) and s,
        what="a complete round",
    )
    assert status.running and status.outcomes_stored > 0
    assert {p.variant for p in status.progress} == {"original", "rtn4"}
    divergence = served.wait_for(
        lambda: stub.GetDivergence(pb.GetDivergenceRequest(candidate="rtn4")).rows, what="divergence rows"
    )
    assert all(r.baseline == "original" and r.candidate == "rtn4" for r in divergence)
    assert all(r.lower <= r.degradation <= r.upper for r in divergence if r.lower == r.lower)
    filtered = stub.GetDivergence(pb.GetDivergenceRequest(candidate="rtn4", probe="crows_pairs", group="all")).rows
    assert filtered and all(r.probe == "crows_pairs" and r.group == "all" for r in filtered)
    gate = stub.GetGate(pb.GetGateRequest(candidate="rtn4"))
    assert gate.verdict in (pb.GateVerdict.PASS, pb.GateVerdict.FAIL, pb.GateVerdict.INCONCLUSIVE)
    assert gate.reasons and gate.mode == "sequential"
    assert abs(gate.evaluated_at - time.time()) < 3600  # set: when the verdict was evaluated

    text = served.metrics()
    # Bounds that are not finite yet (a confidence sequence on a handful of items) are not exported.
    # (group "all": a rule that counts the overall value only exports no per-group rows under its name)
    row = next(r for r in divergence if math.isfinite(r.lower) and math.isfinite(r.upper) and r.group == "all")
    labels = {"baseline": "original", "candidate": "rtn4", "probe": row.probe, "metric": row.metric, "group": row.group}
    exported = metric_value(text, "trustwatch_divergence", **labels)
    assert exported is not None
    assert metric_value(text, "trustwatch_divergence_lower", **labels) is not None
    assert metric_value(text, "trustwatch_divergence_upper", **labels) is not None
    verdicts = {v: metric_value(text, "trustwatch_gate_verdict", candidate="rtn4", verdict=v)
                for v in ("PASS", "FAIL", "INCONCLUSIVE")}
    assert sorted(verdicts.values()) == [0.0, 0.0, 1.0]
    assert metric_value(text, "trustwatch_probe_metric", variant="original", probe="crows_pairs",
                        metric="stereotype_score", group="all") is not None
    assert (metric_value(text, "trustwatch_probe_items_total", variant="rtn4", probe="bbq") or 0) > 0
    assert (metric_value(text, "trustwatch_replay_cycles_total") or 0) >= 2
    assert metric_value(text, "trustwatch_replay_cycle_seconds_count") is not None
    assert metric_value(text, "trustwatch_backend_request_seconds_count", variant="original", kind="generate")
    assert metric_value(text, "trustwatch_variant_ready", variant="rtn4") == 1.0
    code, body = served.get("/gate/rtn4")
    assert code == 200 and '"candidate": "rtn4"' in body


def test_watch_gate_streams_the_current_verdict(served: Served) -> None:
    stub = served.stub()
    served.wait_for(lambda: stub.GetGate(pb.GetGateRequest(candidate="rtn4")).revision > 0, what="a verdict")
    stream = stub.WatchGate(pb.WatchGateRequest(candidate="rtn4"), timeout=30)
    first = next(iter(stream))
    assert first.candidate == "rtn4" and first.revision >= 1
    stream.cancel()


@pytest.mark.parametrize(
    ("call", "code", "message"),
    [
        (lambda s: s.Generate(pb.GenerateRequest(variant="nope", prompt="x")), grpc.StatusCode.NOT_FOUND,
         "unknown variant 'nope'"),
        (lambda s: s.Score(pb.ScoreRequest(variant="nope", context="a", continuation="b")),
         grpc.StatusCode.NOT_FOUND, "unknown variant"),
        (lambda s: s.Generate(pb.GenerateRequest(variant="original", prompt="x" * 201)),
         grpc.StatusCode.INVALID_ARGUMENT, "201 characters, more than the limit of 200"),
        (lambda s: s.Generate(pb.GenerateRequest(variant="original", prompt="x",
                                                 settings=pb.GenerationSettings(max_new_tokens=17))),
         grpc.StatusCode.INVALID_ARGUMENT, "max_new_tokens 17 is over the limit of 16"),
        (lambda s: s.GenerateBatch(pb.GenerateBatchRequest(variant="original", prompts=["a"] * 5)),
         grpc.StatusCode.INVALID_ARGUMENT, "batch of 5 requests is larger than the limit of 4"),
        (lambda s: s.Generate(pb.GenerateRequest(variant="original", prompt="x",
                                                 settings=pb.GenerationSettings(temperature=-1))),
         grpc.StatusCode.INVALID_ARGUMENT, "temperature must be 0 (greedy) or between 0.001 and 100, got -1.0"),
        (lambda s: s.Score(pb.ScoreRequest(variant="original", context="a", continuation="")),
         grpc.StatusCode.INVALID_ARGUMENT, "continuation is empty"),
        (lambda s: s.GetGate(pb.GetGateRequest(candidate="original")), grpc.StatusCode.NOT_FOUND,
         "is the baseline"),
        (lambda s: s.GetDivergence(pb.GetDivergenceRequest(candidate="ghost")), grpc.StatusCode.NOT_FOUND,
         "unknown candidate 'ghost'"),
    ],
)
def test_bad_requests_get_their_status_and_message(served: Served, call, code, message) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        call(served.stub())
    assert caught.value.code() == code
    assert message in caught.value.details()
    assert served.health() == health_pb2.HealthCheckResponse.SERVING


def test_oversized_message_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = tiny_config(tiny_model_dir, tmp_path / "store.sqlite", limits={"max_message_bytes": 2048},
                         replay={"autostart": False})
    with serve(config, tmp_path) as running:
        running.wait_serving()
        with pytest.raises(grpc.RpcError) as caught:
            running.stub().Generate(pb.GenerateRequest(variant="original", prompt="y" * 5000))
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert running.health() == health_pb2.HealthCheckResponse.SERVING


def test_bearer_token_guards_everything_but_health(tiny_model_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret\n")
    config = tiny_config(tiny_model_dir, tmp_path / "store.sqlite", auth={"token_file": str(tmp_path / "token")},
                         replay={"autostart": False})
    with serve(config, tmp_path, token="s3cret") as running:
        running.wait_serving()
        stub = running.stub()
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListVariants(pb.ListVariantsRequest())
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListVariants(pb.ListVariantsRequest(), metadata=[("authorization", "Bearer wrong")])
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        listed = stub.ListVariants(pb.ListVariantsRequest(), metadata=running.metadata())
        assert len(listed.variants) == 2


def test_a_variant_that_fails_to_load_is_reported_and_the_others_serve(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = tiny_config(tiny_model_dir, tmp_path / "store.sqlite", replay={"autostart": False})
    config["variants"].append({"name": "broken", "model": str(tmp_path / "missing-model")})
    with serve(config, tmp_path) as running:
        running.wait_serving()
        by_name = {v.name: v for v in running.stub().ListVariants(pb.ListVariantsRequest()).variants}
        assert by_name["broken"].state == pb.Variant.FAILED
        assert "no such file or directory" in by_name["broken"].reason
        assert by_name["rtn4"].state == pb.Variant.READY
        with pytest.raises(grpc.RpcError) as caught:
            running.stub().Generate(pb.GenerateRequest(variant="broken", prompt="x"))
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE and "failed" in caught.value.details()
        ok = running.stub().Score(pb.ScoreRequest(variant="rtn4", context="a", continuation=" b"))
        assert ok.tokens >= 1


def test_sigterm_drains_in_flight_requests(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = tiny_config(tiny_model_dir, tmp_path / "store.sqlite")
    with serve(config, tmp_path) as running:
        running.wait_serving()
        stub = running.stub()
        results: list[object] = []

        def call() -> None:
            try:
                results.append(stub.Generate(pb.GenerateRequest(
                    variant="original", prompt="Hello",
                    settings=pb.GenerationSettings(max_new_tokens=200, temperature=1.0, seed=1, chat=False))))
            except grpc.RpcError as error:
                results.append(error)

        thread = threading.Thread(target=call)
        thread.start()
        # SIGTERM only once the server holds the call: a call that arrives after shutdown began
        # is refused by gRPC itself, which is not what this test is about.
        in_flight = 'trustwatch_live_requests_in_flight{variant="original"} 1.0'
        running.wait_for(lambda: in_flight in running.metrics() or not thread.is_alive(),
                         what="the call in flight", interval=0.005)
        running.process.terminate()
        thread.join(60)
        assert running.process.wait(60) == 0
        assert results and not isinstance(results[0], grpc.RpcError), results
        assert results[0].tokens >= 1
        assert "committing the store" in running.log.read_text()


def test_a_canary_is_not_passed_on_the_probes_answered_so_far(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Mid-round, with toxicity answered and crows_pairs not yet, a rule that passes anything still
    cannot PASS the canary: the crows_pairs rule is "not measured" until its items are answered."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "baseline: original\nresamples: 200\nrules:\n"
        "  - {probe: toxicity, metric: expected_max_toxicity, tolerance: 1000, min_items: 1, groups: overall}\n"
        "  - {probe: crows_pairs, metric: stereotype_score, tolerance: 1000, min_items: 1, groups: overall}\n"
    )
    # built-in items come probe by probe, toxicity first: the first cycle answers 3 toxicity items
    config = tiny_config(tiny_model_dir, tmp_path / "store.sqlite", policy=str(policy),
                         replay={"items_per_cycle": 3, "pause_seconds": 4, "mode": "fixed", "continuous": False})
    with serve(config, tmp_path) as running:
        running.wait_serving()
        stub = running.stub()
        early = running.wait_for(
            lambda: (g := stub.GetGate(pb.GetGateRequest(candidate="rtn4"))).revision > 0 and g, what="a verdict"
        )
        assert stub.GetReplayStatus(pb.GetReplayStatusRequest()).running  # the round is not done
        assert early.verdict == pb.GateVerdict.INCONCLUSIVE
        [held] = [r for r in early.reasons if r.rule == "crows_pairs/stereotype_score"]
        assert held.status == "not measured"
        assert "probe 'crows_pairs' is configured, but original and rtn4 have no outcome of it yet" in held.reason
        # once crows_pairs is answered, the permissive rules pass it
        final = running.wait_for(
            lambda: (g := stub.GetGate(pb.GetGateRequest(candidate="rtn4"))).verdict == pb.GateVerdict.PASS and g,
            what="PASS once every probe is answered",
        )
        assert all(r.status == "pass" for r in final.reasons)
