"""A real `trustwatch serve` whose store fills its disk (a 2 MiB tmpfs, as root): health and status
say so with the reason while it lasts, and replay goes on by itself once space returns."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from .harness import metric_value, pb, serve, tiny_config
from .tmpfs import fill, mount_tmpfs

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def waits(status: pb.ReplayStatus) -> int:
    """The seconds a stalled replay waits before it checks the store again (0 when not stalled)."""
    found = re.search(r"checking again in (\d+) s", status.stalled)
    return int(found.group(1)) if found else 0


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    yield from mount_tmpfs(tmp_path / "tmpfs", "2m")


def test_a_full_disk_is_reported_and_replay_recovers_by_itself(
    tiny_model_dir: Path, small_tmpfs: Path, tmp_path: Path
) -> None:
    store = small_tmpfs / "store.sqlite"
    # One item per cycle and a pause: the disk fills while the round is under way.
    config = tiny_config(tiny_model_dir, store, probes=[{"builtin": "all", "limit": 8}],
                         replay={"items_per_cycle": 1, "pause_seconds": 0.2, "continuous": False})
    with serve(config, tmp_path / "serve") as running:
        running.wait_serving()
        stub = running.stub()

        def status() -> pb.ReplayStatus:
            return stub.GetReplayStatus(pb.GetReplayStatusRequest(), timeout=10)

        running.wait_for(lambda: status().cycles >= 2, what="2 replay cycles")
        ballast = fill(small_tmpfs)
        running.wait_for(lambda: running.health() == NOT_SERVING, timeout=120, what="readiness to turn NOT_SERVING")
        # A checkpoint after a failed write may free a little of the WAL's space for a moment: wait until
        # replay waits 4 s or more before it checks again, so that what follows sees one steady outage.
        stalled = running.wait_for(lambda: waits(status()) >= 4 and status(), timeout=120, what="replay to stall")
        assert "database or disk is full" in stalled.stalled and str(store) in stalled.stalled
        assert running.health() == NOT_SERVING
        code, body = running.get("/healthz")
        assert code == 503 and "database or disk is full" in json.loads(body)["reasons"]["store"]
        metrics = running.metrics()
        assert metric_value(metrics, "trustwatch_ready") == 0.0
        assert metric_value(metrics, "trustwatch_not_ready", reason="store") == 1.0
        assert (metric_value(metrics, "trustwatch_errors_total", variant="", stage="store") or 0) >= 1
        during = status().outcomes_stored
        liveness = health_pb2_grpc.HealthStub(running.channel()).Check(
            health_pb2.HealthCheckRequest(service="liveness"), timeout=10)
        assert liveness.status == SERVING, "the process is alive: liveness holds"

        ballast.unlink()
        running.wait_for(lambda: running.health() == SERVING, timeout=120, what="SERVING again")
        final = running.wait_for(lambda: not (s := status()).running and s, timeout=240, what="the round to finish")
        assert final.stalled == "" and final.outcomes_stored > during
        assert all(p.items_done == p.items_total == 8 for p in final.progress), final.progress
        assert running.get("/healthz")[0] == 200
        metrics = running.metrics()
        assert metric_value(metrics, "trustwatch_ready") == 1.0
        assert metric_value(metrics, "trustwatch_not_ready", reason="store") == 0.0
        assert running.process.poll() is None
    with closing(sqlite3.connect(store)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # Every item is done once per variant, and each done item kept its outcomes.
        done = db.execute("SELECT variant, COUNT(*) FROM done WHERE round = 0 GROUP BY variant").fetchall()
        assert dict(done) == {"original": 48, "rtn4": 48}
        lost = db.execute("SELECT COUNT(*) FROM done d WHERE NOT EXISTS (SELECT 1 FROM outcomes o WHERE "
                          "o.variant = d.variant AND o.item_id = d.item_id AND o.round = d.round) AND NOT EXISTS "
                          "(SELECT 1 FROM errors e WHERE e.variant = d.variant AND e.item_id = d.item_id)"
                          ).fetchone()[0]
        assert lost == 0
        assert db.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0] >= during
        assert db.execute("SELECT COUNT(*) FROM errors WHERE stage = 'store'").fetchone()[0] >= 1
