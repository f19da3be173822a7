"""Health under load and shedding (issue 15, item 6): while 64 clients keep the server busy with
live calls, readiness (``grpc.health.v1`` Check) and ``/healthz`` still answer within 1 s; with a
small ``limits.max_queued_calls``, calls beyond it get RESOURCE_EXHAUSTED at once, with a retry
hint, and are counted. Real server, real tiny model, generations long enough to queue."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .harness import Served, metric_value, pb, serve, tiny_config

HEALTH_BOUND_S = 1.0
"""What the manifests' probes allow (timeoutSeconds: 1)."""


def _client(served: Served, n: int, stop: threading.Event, outcomes: Counter[str], max_new: int) -> None:
    """One client: Generate and Score in turn until ``stop``; counts each outcome by status."""
    stub = served.stub()
    i = 0
    while not stop.is_set():
        try:
            if i % 2:
                stub.Score(pb.ScoreRequest(variant="original", context=f"Hello {n}", continuation=" world"), timeout=60)
            else:
                stub.Generate(pb.GenerateRequest(variant="original", prompt=f"The quick {n}", settings=pb.GenerationSettings(
                    max_new_tokens=max_new, temperature=0.8, seed=n + i)), timeout=60)
            outcomes["OK"] += 1
        except grpc.RpcError as error:
            outcomes[error.code().name] += 1
            if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                time.sleep(0.2)
        i += 1


def _health_latencies(served: Served, seconds: float) -> tuple[list[float], list[float]]:
    """Readiness checks (gRPC) and /healthz GETs every 0.25 s for ``seconds``: their latencies."""
    stub = health_pb2_grpc.HealthStub(served.channel())
    grpc_s, http_s = [], []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        began = time.perf_counter()
        status = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10).status
        grpc_s.append(time.perf_counter() - began)
        assert status == health_pb2.HealthCheckResponse.SERVING
        began = time.perf_counter()
        code, _ = served.get("/healthz")
        http_s.append(time.perf_counter() - began)
        assert code == 200
        time.sleep(0.25)
    return grpc_s, http_s


@pytest.mark.parametrize("clients", [64])
def test_readiness_answers_within_a_second_while_64_clients_load_the_server(
    tiny_model_dir: Path, tmp_path: Path, clients: int
) -> None:
    config = tiny_config(tiny_model_dir, tmp_path / "store.sqlite", limits={"max_new_tokens": 256})
    with serve(config, tmp_path) as served:
        served.wait_serving()
        stop, outcomes = threading.Event(), Counter[str]()
        threads = [threading.Thread(target=_client, args=(served, n, stop, outcomes, 120), daemon=True)
                   for n in range(clients)]
        for thread in threads:
            thread.start()
        try:
            served.wait_for(lambda: sum(outcomes.values()) >= clients, timeout=120, what="every client answered once")
            grpc_s, http_s = _health_latencies(served, 12)
        finally:
            stop.set()
            for thread in threads:
                thread.join(90)
        assert max(grpc_s) < HEALTH_BOUND_S, f"gRPC readiness took {max(grpc_s):.2f} s at worst ({sorted(grpc_s)[-5:]})"
        assert max(http_s) < HEALTH_BOUND_S, f"/healthz took {max(http_s):.2f} s at worst ({sorted(http_s)[-5:]})"
        # 64 clients, each with one call in flight, fit the default bound of 64: nothing is shed.
        assert set(outcomes) == {"OK"}, outcomes


def test_calls_beyond_the_queue_bound_are_shed_at_once(tiny_model_dir: Path, tmp_path: Path) -> None:
    config = tiny_config(tiny_model_dir, tmp_path / "store.sqlite", replay={"autostart": False},
                         limits={"max_new_tokens": 256, "max_queued_calls": 4})
    with serve(config, tmp_path) as served:
        served.wait_serving()
        stub = served.stub()
        results: list[tuple[Any, float, Any]] = []
        lock = threading.Lock()
        start = threading.Barrier(16)

        def call(n: int) -> None:
            start.wait()
            began = time.perf_counter()
            future = stub.Generate.future(pb.GenerateRequest(
                variant="original", prompt=f"Hello {n}",
                settings=pb.GenerationSettings(max_new_tokens=200, temperature=0.8, seed=n)), timeout=120)
            try:
                outcome: Any = future.result()
            except grpc.RpcError as error:
                outcome = error
            with lock:
                results.append((outcome, time.perf_counter() - began, future))

        threads = [threading.Thread(target=call, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        answered = [r for r in results if isinstance(r[0], pb.GenerateResponse)]
        shed = [r for r in results if isinstance(r[0], grpc.RpcError)]
        assert answered and shed, [type(r[0]).__name__ for r in results]
        assert len(answered) + len(shed) == 16
        slowest_answer = max(seconds for _, seconds, _ in answered)
        for error, seconds, future in shed:
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
            assert "retry after" in error.details() and "limits.max_queued_calls" in error.details()
            assert dict(future.trailing_metadata() or ()).get("retry-after") == "1"
            assert seconds < slowest_answer  # shed at once, not after waiting its turn
        assert served.health() == health_pb2.HealthCheckResponse.SERVING
        shed_count = metric_value(served.metrics(), "trustwatch_live_requests_shed_total", variant="original")
        assert shed_count == len(shed)
