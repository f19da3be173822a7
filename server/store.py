"""The results store: every outcome, generation and error, in SQLite (WAL), never lost.

One row per outcome (item, variant, probe, group, metric, value). An item's outcomes,
its generations and its "done" mark for a variant are written in one transaction, so
after any crash (``kill -9`` included) the store holds whole items only, and a restart
resumes with the items that are not marked done. Statistics are recomputed from the store.

Replay goes in *rounds*: round 0 asks every item once; when the service has asked all
items it starts round 1, and so on, so that drift shows over time. Statistics read the
latest round in which an item was answered for each variant.

The schema is versioned (``PRAGMA user_version``) and migrated forward on open.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trustwatch.common.errors import StoreError

SCHEMA_VERSION = 2

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE outcomes (
        id INTEGER PRIMARY KEY,
        round INTEGER NOT NULL,
        item_id TEXT NOT NULL,
        variant TEXT NOT NULL,
        probe TEXT NOT NULL,
        grp TEXT NOT NULL,
        metric TEXT NOT NULL,
        value REAL NOT NULL,
        template TEXT,
        created REAL NOT NULL
    );
    CREATE INDEX outcomes_variant ON outcomes (variant, round);
    CREATE TABLE done (
        round INTEGER NOT NULL,
        item_id TEXT NOT NULL,
        variant TEXT NOT NULL,
        probe TEXT NOT NULL,
        created REAL NOT NULL,
        PRIMARY KEY (round, variant, item_id)
    );
    CREATE TABLE generations (
        id INTEGER PRIMARY KEY,
        round INTEGER NOT NULL,
        item_id TEXT NOT NULL,
        variant TEXT NOT NULL,
        probe TEXT NOT NULL,
        grp TEXT NOT NULL,
        sample INTEGER NOT NULL,
        prompt TEXT NOT NULL,
        text TEXT NOT NULL,
        score REAL
    );
    CREATE INDEX generations_item ON generations (item_id, variant);
    CREATE TABLE errors (
        id INTEGER PRIMARY KEY,
        created REAL NOT NULL,
        variant TEXT,
        stage TEXT NOT NULL,
        item_id TEXT,
        message TEXT NOT NULL
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # The latest-round join looks rows up by (variant, item, round): without these indexes it
    # scanned a whole round per item, quadratic in items (63 s for 10,000 items x 2 variants).
    2: """
    CREATE INDEX outcomes_item ON outcomes (variant, item_id, round);
    DROP INDEX generations_item;
    CREATE INDEX generations_item ON generations (variant, item_id, round);
    """,
}


@dataclass
class ItemRecord:
    """What one variant answered for one item: its outcome rows and generations."""

    item_id: str
    probe: str
    group: str
    outcomes: list[dict[str, Any]]
    """Rows with at least ``metric`` and ``value``; ``template`` optional."""
    generations: list[dict[str, Any]] = field(default_factory=list)
    """Rows with ``sample``, ``prompt``, ``text``, ``score`` (may be None)."""


class Store:
    """A SQLite results store; safe to share between threads (one connection, one lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise StoreError(f"results store {self.path}: {error}") from error

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"results store {self.path} has schema version {version}, newer than this trustwatch "
                f"({SCHEMA_VERSION}): upgrade trustwatch or use another store path"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self._transaction() as db:
                for statement in filter(str.strip, _MIGRATIONS[target].split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {target}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # A failed COMMIT leaves the transaction open too; every later BEGIN would fail.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing ---------------------------------------------------------------------------

    def record(self, variant: str, round_: int, records: Sequence[ItemRecord]) -> None:
        """Append the items' outcomes and generations and mark them done, in one transaction."""
        now = time.time()
        with self._transaction() as db:
            for record in records:
                db.executemany(
                    "INSERT INTO outcomes (round, item_id, variant, probe, grp, metric, value, template, created)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (round_, record.item_id, variant, record.probe, record.group, row["metric"],
                         float(row["value"]), row.get("template"), now)
                        for row in record.outcomes
                    ],
                )
                db.executemany(
                    "INSERT INTO generations (round, item_id, variant, probe, grp, sample, prompt, text, score)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (round_, record.item_id, variant, record.probe, record.group, g["sample"], g["prompt"],
                         g["text"], g.get("score"))
                        for g in record.generations
                    ],
                )
                db.execute(
                    "INSERT OR REPLACE INTO done (round, item_id, variant, probe, created) VALUES (?, ?, ?, ?, ?)",
                    (round_, record.item_id, variant, record.probe, now),
                )

    def record_error(self, stage: str, message: str, variant: str | None = None, item_id: str | None = None) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO errors (created, variant, stage, item_id, message) VALUES (?, ?, ?, ?, ?)",
                (time.time(), variant, stage, item_id, message[:2000]),
            )

    def set_meta(self, key: str, value: Any) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def get_meta(self, key: str, default: Any = None) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    # -- reading ---------------------------------------------------------------------------

    def done_items(self, variant: str, round_: int) -> set[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT item_id FROM done WHERE variant = ? AND round = ?", (variant, round_)
            ).fetchall()
        return {r[0] for r in rows}

    def done_counts(self, round_: int | None = None) -> dict[tuple[str, str], int]:
        """Items done per (variant, probe), in one round or over all rounds."""
        query = "SELECT variant, probe, COUNT(*) FROM done"
        params: tuple[Any, ...] = ()
        if round_ is not None:
            query += " WHERE round = ?"
            params = (round_,)
        with self._lock:
            rows = self._db.execute(query + " GROUP BY variant, probe", params).fetchall()
        return {(v, p): n for v, p, n in rows}

    def count_outcomes(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0])

    def latest_round(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT MAX(round) FROM done").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _latest(self, table: str, columns: str) -> list[tuple[Any, ...]]:
        """Rows of ``table``, each (variant, item)'s from the latest round in which it was answered."""
        query = f"""
            SELECT {columns} FROM {table} t
            JOIN (SELECT variant, item_id, MAX(round) AS r FROM done GROUP BY variant, item_id) d
              ON t.variant = d.variant AND t.item_id = d.item_id AND t.round = d.r
            ORDER BY t.id
        """
        with self._lock:
            return self._db.execute(query).fetchall()

    def outcome_rows(self) -> list[dict[str, Any]]:
        """Outcome rows (the outcomes.jsonl unit), from each item's latest round, per variant."""
        out = []
        for item_id, variant, probe, group, metric, value, template in self._latest(
            "outcomes", "t.item_id, t.variant, t.probe, t.grp, t.metric, t.value, t.template"
        ):
            row = {"item_id": item_id, "variant": variant, "probe": probe, "group": group, "metric": metric,
                   "value": value}
            if template is not None:
                row["template"] = template
            out.append(row)
        return out

    def generation_rows(self) -> list[dict[str, Any]]:
        """Generations, from each item's latest round, per variant."""
        keys = ("item_id", "variant", "probe", "group", "sample", "prompt", "text", "score")
        rows = self._latest("generations", "t.item_id, t.variant, t.probe, t.grp, t.sample, t.prompt, t.text, t.score")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def error_counts(self) -> dict[tuple[str, str], int]:
        """Errors per (variant, stage)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT COALESCE(variant, ''), stage, COUNT(*) FROM errors GROUP BY 1, 2"
            ).fetchall()
        return {(v, s): n for v, s, n in rows}

    def apply_retention(self, keep_rounds: int) -> int:
        """Delete rounds older than the newest ``keep_rounds``; returns outcome rows deleted."""
        if keep_rounds < 1:
            raise ValueError(f"keep_rounds must be >= 1, got {keep_rounds}")
        cutoff = self.latest_round() - keep_rounds + 1
        with self._transaction() as db:
            deleted = db.execute("DELETE FROM outcomes WHERE round < ?", (cutoff,)).rowcount
            db.execute("DELETE FROM generations WHERE round < ?", (cutoff,))
            db.execute("DELETE FROM done WHERE round < ?", (cutoff,))
        return int(deleted)

    # -- export ----------------------------------------------------------------------------

    def export_jsonl(self, outcomes_path: Path, generations_path: Path | None = None) -> int:
        """Write outcomes.jsonl (and generations.jsonl) atomically; returns the outcome count."""
        rows = self.outcome_rows()
        _write_jsonl_atomic(outcomes_path, rows)
        if generations_path is not None:
            _write_jsonl_atomic(generations_path, self.generation_rows())
        return len(rows)


def _write_jsonl_atomic(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


SQLITE_HEADER = b"SQLite format 3\x00"


def is_store_file(path: str | Path) -> bool:
    """Whether ``path`` is an SQLite file (a results store), not an outcomes.jsonl."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def read_outcome_rows(path: str | Path) -> list[dict[str, Any]]:
    """The outcome rows of an existing store, as the service reads them (each item's latest round)."""
    if not is_store_file(path):
        raise StoreError(f"results store {path}: not an SQLite file")
    store = Store(path)
    try:
        return store.outcome_rows()
    finally:
        store.close()
