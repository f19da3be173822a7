"""kill -9 during replay, restart on the same store: outcomes never go down, replay goes on."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
from contextlib import closing
from pathlib import Path

from .harness import pb, serve, tiny_config


def stored(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0])


def test_kill_9_then_restart_resumes(tiny_model_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    probes = [{"builtin": "all", "limit": 8}]
    # One item per cycle and a pause: the kill lands well inside the round (a whole round of the
    # tiny model takes about a second without the pause).
    slow = tiny_config(tiny_model_dir, store, probes=probes,
                       replay={"items_per_cycle": 1, "pause_seconds": 0.5, "continuous": False})
    with serve(slow, tmp_path / "first") as running:
        running.wait_serving()
        stub = running.stub()
        running.wait_for(lambda: stub.GetReplayStatus(pb.GetReplayStatusRequest()).cycles >= 2, what="2 cycles")
        os.kill(running.process.pid, signal.SIGKILL)
        running.process.wait()
    before = stored(store)
    assert before > 0
    # A short pause here too: the rest of the round takes a few seconds, so the terminal's first
    # progress line (printed once replay moves) lands inside it, not after the round's report.
    config = tiny_config(tiny_model_dir, store, probes=probes,
                         replay={"items_per_cycle": 3, "pause_seconds": 0.25, "continuous": False})
    with serve(config, tmp_path / "second") as running:
        running.wait_serving()
        stub = running.stub()
        status = stub.GetReplayStatus(pb.GetReplayStatusRequest())
        assert status.outcomes_stored >= before
        final = running.wait_for(
            lambda: (s := stub.GetReplayStatus(pb.GetReplayStatusRequest())).cycles > 0 and not s.running and s,
            what="the round to finish",
        )
        assert final.outcomes_stored > before
        assert all(p.items_done == p.items_total for p in final.progress)
        running.wait_for(lambda: "first replay round done: 48 items per variant" in running.log.read_text(),
                         what="the first-round report")
        # while it replayed, the terminal showed progress: items per variant of the round's 48, an ETA
        progress = re.findall(r"replay round 0: (.*) items; (\d+)/(\d+) answers, (ETA .*|done)", running.log.read_text())
        assert progress and all(part.endswith("/48") for part in progress[0][0].split(", ")), progress
        assert 0 < int(progress[0][1]) < int(progress[0][2])  # the first line: the round half done
    # No item was answered twice in round 0 by the same variant.
    with sqlite3.connect(store) as db:
        dupes = db.execute(
            "SELECT COUNT(*) FROM (SELECT variant, item_id, metric, COUNT(*) c FROM outcomes "
            "WHERE round = 0 GROUP BY 1, 2, 3 HAVING c > 1)"
        ).fetchone()[0]
    assert dupes == 0
    # A restart on a round the store already holds whole reports it at once, asking nothing.
    complete = stored(store)
    with serve(config, tmp_path / "third", "--exit-after-first-round") as running:
        assert running.process.wait(240) == 0
        log = running.log.read_text()
    assert "replay round 0 is already complete in the store: 48 items per variant" in log
    assert "gate (fixed, first round) rtn4" in log
    assert stored(store) == complete
