"""A real `trustwatch serve` on a store corrupted mid-file: it exits at once, non-zero, naming the
file; with ``store.on_corrupt: quarantine`` it moves the file aside and serves a new store."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from trustwatch.server.store import ItemRecord, Store

from .harness import pb, serve, tiny_config


def corrupt_store(path: Path) -> None:
    """A real store (some pages of rows), then a page in the middle of the file overwritten."""
    store = Store(path)
    for i in range(40):
        store.record("original", 0, [ItemRecord(f"item-{i}-{j}", "crows_pairs", "race",
                                                [{"metric": "stereotype_preferred", "value": 1.0}]) for j in range(25)])
    store.close()
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    assert size > 40 * 4096
    with path.open("r+b") as handle:
        handle.seek(size // 2 - (size // 2) % 4096)
        handle.write(os.urandom(4096))


def test_a_corrupt_store_fails_fast_naming_the_file(tiny_model_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    corrupt_store(store)
    with serve(tiny_config(tiny_model_dir, store), tmp_path / "serve") as running:
        code = running.process.wait(120)
        log = running.log.read_text()
    assert code != 0, log
    assert f"results store {store} is corrupt" in log and "on_corrupt: quarantine" in log, log
    assert "Traceback" not in log
    assert store.exists(), "without the operator's word the file stays where it is"


def test_a_corrupt_store_is_quarantined_when_the_operator_says_so(tiny_model_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    corrupt_store(store)
    config = tiny_config(tiny_model_dir, store, replay={"autostart": False})
    config["store"]["on_corrupt"] = "quarantine"
    with serve(config, tmp_path / "serve") as running:
        running.wait_serving()
        status = running.stub().GetReplayStatus(pb.GetReplayStatusRequest(), timeout=10)
        assert status.outcomes_stored == 0 and status.stalled == ""
        log = running.log.read_text()
    [aside] = tmp_path.glob("store.sqlite.corrupt-*[0-9Z]")
    assert f"moved it to {aside}" in log
    assert aside.stat().st_size > 40 * 4096
