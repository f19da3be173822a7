"""The results store: a real SQLite file, transactions, resume, schema versions, retention."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trustwatch.server.store import SCHEMA_VERSION, ItemRecord, Store, StoreError


def record(item: str, value: float = 1.0) -> ItemRecord:
    return ItemRecord(item, "crows_pairs", "race", [{"metric": "stereotype_preferred", "value": value}],
                      [{"sample": 0, "prompt": "p", "text": "t", "score": None}])


def test_records_resume_and_latest_round(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.record("base", 0, [record("a"), record("b", 0.0)])
    store.record("cand", 0, [record("a", 0.0)])
    assert store.done_items("base", 0) == {"a", "b"}
    assert store.done_items("cand", 0) == {"a"}
    store.record("base", 1, [record("a", 0.0)])
    rows = {(r["variant"], r["item_id"]): r["value"] for r in store.outcome_rows()}
    assert rows == {("base", "a"): 0.0, ("base", "b"): 0.0, ("cand", "a"): 0.0}
    assert store.latest_round() == 1
    assert store.done_counts(0) == {("base", "crows_pairs"): 2, ("cand", "crows_pairs"): 1}
    store.close()
    reopened = Store(tmp_path / "s.sqlite")
    assert reopened.count_outcomes() == 4
    assert len(reopened.generation_rows()) == 3


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    bad = ItemRecord("c", "bbq", "Age", [{"metric": "correct_ambig", "value": "not a number"}])
    with pytest.raises(ValueError):
        store.record("base", 0, [record("a"), bad])
    assert store.count_outcomes() == 0 and store.done_items("base", 0) == set()


def test_schema_is_versioned_and_a_newer_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this trustwatch"):
        Store(path)


def test_a_version_1_store_is_migrated_with_its_rows(tmp_path: Path) -> None:
    from trustwatch.server.store import _MIGRATIONS

    path = tmp_path / "v1.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(_MIGRATIONS[1])
        db.execute("INSERT INTO outcomes (round, item_id, variant, probe, grp, metric, value, created) "
                   "VALUES (0, 'a', 'base', 'crows_pairs', 'race', 'stereotype_preferred', 1.0, 0)")
        db.execute("INSERT INTO done VALUES (0, 'a', 'base', 'crows_pairs', 0)")
        db.execute("PRAGMA user_version = 1")
    store = Store(path)
    assert [(r["item_id"], r["value"]) for r in store.outcome_rows()] == [("a", 1.0)]
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
        plan = " ".join(row[-1] for row in db.execute(
            "EXPLAIN QUERY PLAN SELECT value FROM outcomes WHERE variant = 'base' AND item_id = 'a' AND round = 0"))
        assert "outcomes_item" in plan


def test_not_a_database_is_named(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=str(path)):
        Store(path)


def test_retention_keeps_the_newest_rounds(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    for round_ in range(4):
        store.record("base", round_, [record("a")])
    assert store.apply_retention(2) == 2
    assert store.done_counts() == {("base", "crows_pairs"): 2}
    with pytest.raises(ValueError):
        store.apply_retention(0)


WRITER = """
import sys
from trustwatch.server.store import ItemRecord, Store
store = Store(sys.argv[1])
i = 0
while True:
    store.record("v", 0, [ItemRecord(f"item{i}-{j}", "perplexity", "g", [{"metric": "nll", "value": 1.0},
                                                                    {"metric": "tokens", "value": 3.0}])
                          for j in range(5)])
    i += 1
"""


def test_kill_9_loses_no_committed_outcome(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
    seen = 0
    deadline = time.monotonic() + 60
    while seen < 200 and time.monotonic() < deadline:
        time.sleep(0.2)
        if path.exists():
            with sqlite3.connect(path) as db:
                try:
                    seen = db.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0]
                except sqlite3.OperationalError:
                    seen = 0
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    store = Store(path)
    after = store.count_outcomes()
    assert after >= seen > 0
    assert after % 10 == 0, "a slice is committed whole: 5 items x 2 outcomes"
    assert len(store.done_items("v", 0)) * 2 == after
