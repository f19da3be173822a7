"""Round numbering over real gRPC calls: a round that holds no data does not count, so
``StartReplay`` with ``new_round`` never skips numbers and retention never drops real history."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from .harness import pb, serve, tiny_config


def rounds_with_data(store: Path) -> list[int]:
    with closing(sqlite3.connect(store)) as db:
        return [r[0] for r in db.execute("SELECT DISTINCT round FROM done ORDER BY round")]


def test_new_round_calls_skip_no_round_and_retention_keeps_real_history(tiny_model_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    config = tiny_config(tiny_model_dir, store, probes=[{"builtin": "all", "limit": 1}],
                         replay={"items_per_cycle": 6, "autostart": False, "continuous": False})
    config["store"]["retention_rounds"] = 3
    with serve(config, tmp_path / "serve") as running:
        running.wait_serving()
        stub = running.stub()

        def status() -> pb.ReplayStatus:
            return stub.GetReplayStatus(pb.GetReplayStatusRequest(), timeout=10)

        def finished() -> pb.ReplayStatus | None:
            s = status()
            return s if not s.running and all(p.items_done == p.items_total for p in s.progress) else None

        assert status().round == 0
        for _ in range(20):
            stub.StartReplay(pb.StartReplayRequest(new_round=True), timeout=10)
        running.wait_for(finished, what="the round to finish")
        held = rounds_with_data(store)
        # Every round up to the current one holds data: none was skipped (main moved to round 20).
        assert held == list(range(status().round + 1)), (held, status().round)
        assert 0 in held

        # Four more rounds, one after the other: retention keeps the newest 3 that hold data.
        for _ in range(4):
            before = status().round
            after = stub.StartReplay(pb.StartReplayRequest(new_round=True), timeout=10).round
            assert after == before + 1
            running.wait_for(finished, what=f"round {after} to finish")
        final = status().round
        # retention runs once a round starts: the newest 3 rounds before it, and the round itself
        assert rounds_with_data(store) == [final - 3, final - 2, final - 1, final]
    # A restart goes on from the newest round that holds data.
    with serve(config, tmp_path / "again") as running:
        running.wait_serving()
        assert running.stub().GetReplayStatus(pb.GetReplayStatusRequest(), timeout=10).round == final
