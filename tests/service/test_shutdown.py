"""SIGTERM on a busy `trustwatch serve` (real embedded model): a stream open, Generate calls in
flight, replay mid-slice. The process drains within ``service.drain_seconds`` and exits 0 (no
SIGABRT), the stream ends at once, readiness is false from the signal on, and the store is whole."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from .harness import embedded_config, metric_value, pb, serve

pytestmark = pytest.mark.slow

DRAIN = 8.0
MARGIN = 6.0
"""Interpreter exit, closing the backends and the store, on a loaded 2-core machine."""


def _replay_requests(served) -> float:  # type: ignore[no-untyped-def]
    text = served.metrics()
    return sum(metric_value(text, "trustwatch_backend_request_seconds_count", variant=v, kind=k) or 0.0
               for v in ("original", "rtn4") for k in ("generate", "loglikelihood"))


@pytest.mark.parametrize("live_calls", [3, 0], ids=["live-calls", "no-clients"])
def test_sigterm_drains_within_the_limit_and_exits_0(tmp_path: Path, live_calls: int) -> None:
    """With live calls longer than the drain, they are cut off at the limit and the process leaves
    the threads still in PyTorch behind; with none (the issue's SIGABRT case), replay stops inside
    its backend call and the process closes the store and exits normally."""
    store = tmp_path / "store.sqlite"
    config = embedded_config(
        store,
        probes=[{"builtin": "all", "limit": 12}],
        generation={"k": 2, "max_new_tokens": 24},
        replay={"items_per_cycle": 16, "round_pause_seconds": 1},
        service={"drain_seconds": DRAIN},
    )
    with serve(config, tmp_path) as running:
        running.wait_serving(timeout=900)
        stub = running.stub()
        # replay mid-slice: the backends have answered some replay chunks, and a slice of 16 items
        # times two variants takes far longer than the wait below
        running.wait_for(lambda: _replay_requests(running) >= 2, timeout=300, what="replay under way")

        stream_end: list[float] = []
        stream_messages: list[object] = []

        def watch() -> None:
            try:
                for message in stub.WatchGate(pb.WatchGateRequest(candidate="rtn4"), timeout=120):
                    stream_messages.append(message)
            except grpc.RpcError as error:
                stream_messages.append(error.code())
            stream_end.append(time.monotonic())

        calls: list[object] = []

        def generate(seed: int) -> None:
            try:
                calls.append(stub.Generate(pb.GenerateRequest(
                    variant="original", prompt=f"Write a long story about the sea, number {seed}.",
                    settings=pb.GenerationSettings(max_new_tokens=400, temperature=0.7, seed=seed)), timeout=120))
            except grpc.RpcError as error:
                calls.append(error.code())

        threads = [threading.Thread(target=watch)] + [threading.Thread(target=generate, args=(s,)) for s in range(live_calls)]
        for thread in threads:
            thread.start()
        time.sleep(2.0)
        assert running.get("/healthz")[0] == 200

        signalled = time.monotonic()
        running.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        health_during: list[int] = []
        healthz_during: list[int] = []
        while running.process.poll() is None and time.monotonic() - signalled < DRAIN + MARGIN + 30:
            try:
                healthz_during.append(running.get("/healthz")[0])
            except OSError:
                healthz_during.append(-1)  # the port is closed: not ready either
            health_during.append(running.health())
            time.sleep(0.2)
        try:
            code = running.process.wait(DRAIN + MARGIN + 30)
        except Exception:
            code = None
        took = time.monotonic() - signalled
        for thread in threads:
            thread.join(30)
        log = running.log.read_text()

    print(f"SIGTERM to exit {took:.1f} s (drain {DRAIN} s), stream ended after "
          f"{stream_end[0] - signalled if stream_end else float('nan'):.2f} s, calls {calls}, /healthz {healthz_during}")
    assert "terminate called" not in log, log[-3000:]
    assert code == 0, f"exit code {code} after {took:.1f} s:\n{log[-3000:]}"
    assert took < DRAIN + MARGIN, f"exit took {took:.1f} s (drain {DRAIN} s):\n{log[-3000:]}"
    assert stream_end and stream_end[0] - signalled < 3.0, (stream_end, signalled, stream_messages)
    assert 200 not in healthz_during, healthz_during
    assert health_pb2.HealthCheckResponse.SERVING not in health_during, health_during
    assert len(calls) == live_calls  # every call ended: answered, or refused with a status
    assert all(isinstance(c, pb.GenerateResponse) or c in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
               for c in calls), calls
    if not live_calls:
        assert "stopped; the store is closed" in log, log[-3000:]
    with sqlite3.connect(store) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
