"""The results store: every outcome, generation and error, in SQLite (WAL), never lost.

One row per outcome (item, variant, probe, group, metric, value). An item's outcomes,
its generations and its "done" mark for a variant are written in one transaction, so
after any crash (``kill -9`` included) the store holds whole items only, and a restart
resumes with the items that are not marked done. Statistics are recomputed from the store.

Replay goes in *rounds*: round 0 asks every item once; when the service has asked all
items it starts round 1, and so on, so that drift shows over time. Statistics read the
latest round in which an item was answered for each variant. A round that holds no data
does not count: retention keeps the newest rounds that hold data.

Every row carries its *producer*: what made it (the variant's definition, the probe's items,
the generation settings, the scorer; ``server/producers.py``). A store bound to a config
(:meth:`Store.bind`) reads and writes only the rows of that config's producers, so outcomes
made under another definition are never mixed in (they stay in the store, unread, until
retention removes their rounds) and a variant the config no longer names is not read at all.
The producers of the last bound config are remembered, so that a store read without a config
(``trustwatch gate store.sqlite``) reads the same rows.

The schema is versioned (``PRAGMA user_version``) and migrated forward on open. On open the
file is checked (``PRAGMA quick_check``): a corrupt store is refused with
:class:`StoreCorruptError`, or moved aside when the caller says so (``on_corrupt="quarantine"``).
A write that fails because the disk is full (or another I/O error) raises
:class:`StoreWriteError`: nothing of it is committed, and the same write can be tried again.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from trustwatch.common.errors import StoreError

log = logging.getLogger("trustwatch.store")

SCHEMA_VERSION = 3

WAL_PAGES = 256
"""Pages in the WAL before it is checkpointed into the database (4 KiB pages: 1 MiB)."""

OnCorrupt = Literal["fail", "quarantine"]
"""What opening a corrupt store does: refuse (:class:`StoreCorruptError`), or move the file aside
(``NAME.corrupt-TIMESTAMP``) and start a new one."""


class StoreCorruptError(StoreError):
    """The store's file is damaged (SQLite says malformed, or not a database)."""


class StoreWriteError(StoreError):
    """A write failed for a reason that may pass (the disk is full, an I/O error); nothing of it
    was committed."""


_CORRUPT = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}
_WRITE_FAILURES = {"SQLITE_FULL", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_BUSY", "SQLITE_LOCKED"}


def _primary_code(error: sqlite3.Error) -> str:
    """The error's primary SQLite result code name (``SQLITE_IOERR_WRITE`` -> ``SQLITE_IOERR``)."""
    name = str(getattr(error, "sqlite_errorname", "") or "")
    for code in _CORRUPT | _WRITE_FAILURES:
        if name == code or name.startswith(code + "_"):
            return code
    text = str(error).lower()
    if "malformed" in text or "not a database" in text:
        return "SQLITE_CORRUPT"
    if "disk is full" in text or "disk i/o error" in text:
        return "SQLITE_FULL" if "full" in text else "SQLITE_IOERR"
    return name

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
    # Producers: what made each row. Rows from before are producer 0 until a config claims them.
    3: """
    CREATE TABLE producers (
        id INTEGER PRIMARY KEY,
        variant TEXT NOT NULL,
        probe TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        created REAL NOT NULL,
        UNIQUE (variant, probe, fingerprint)
    );
    ALTER TABLE outcomes ADD COLUMN producer INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE generations ADD COLUMN producer INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE done_v3 (
        round INTEGER NOT NULL,
        item_id TEXT NOT NULL,
        variant TEXT NOT NULL,
        probe TEXT NOT NULL,
        created REAL NOT NULL,
        producer INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (round, variant, producer, item_id)
    );
    INSERT INTO done_v3 (round, item_id, variant, probe, created, producer)
        SELECT round, item_id, variant, probe, created, 0 FROM done;
    DROP TABLE done;
    ALTER TABLE done_v3 RENAME TO done;
    """,
}
_TABLES = ("outcomes", "generations", "done")


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


def _made_by(fingerprint: Mapping[str, Any]) -> str:
    """What made a producer's rows, apart from the probe: the variant's definition and, for a served
    variant, the served model (absent for the others, and in fingerprints from before it was kept)."""
    made = {key: fingerprint[key] for key in ("variant", "served_model") if key in fingerprint}
    return json.dumps(made, sort_keys=True, default=str)


@dataclass(frozen=True)
class ProducerChange:
    """A (variant, probe) whose producer is new while the store holds rows of an earlier one."""

    variant: str
    probe: str
    changed: list[str]
    """The fingerprint's top-level fields that differ from the earlier producer's."""


class Store:
    """A SQLite results store; safe to share between threads (one connection, one lock)."""

    def __init__(self, path: str | Path, on_corrupt: OnCorrupt = "fail") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._ids: dict[tuple[str, str], int] | None = None
        """(variant, probe) -> producer id of the bound config; None: unbound, every row is read."""
        self.quarantined: Path | None = None
        """Where a corrupt file was moved (``on_corrupt="quarantine"``); None when it was not."""
        try:
            self._db = self._open()
        except StoreCorruptError as error:
            if on_corrupt != "quarantine" or not is_store_file(self.path):
                raise  # a file that is not SQLite at all is not ours to move
            self.quarantined = self._quarantine(error)
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            # A small WAL: SQLite keeps every version of a page in it until a checkpoint, by default up
            # to 4 MiB, which on a small disk takes the space the data needs (and a failed write never
            # checkpoints). Checkpoint every 1 MiB and cut the file back to that size.
            db.execute(f"PRAGMA wal_autocheckpoint = {WAL_PAGES}")
            db.execute(f"PRAGMA journal_size_limit = {WAL_PAGES * 4096}")
            problems = [row[0] for row in db.execute("PRAGMA quick_check(5)").fetchall()]
            if problems != ["ok"]:
                raise StoreCorruptError(self._corrupt_message("; ".join(problems)))
            self._db = db
            self._migrate()
            self._load_bound()
        except sqlite3.Error as error:
            db.close()
            raise self._translate(error) from error
        except BaseException:
            db.close()
            raise
        return db

    def _corrupt_message(self, detail: str) -> str:
        return (f"results store {self.path} is corrupt ({detail}): restore it from a backup, or move it "
                "aside (with its -wal and -shm files) to start a new store")

    def _translate(self, error: sqlite3.Error) -> StoreError:
        code = _primary_code(error)
        if code in _CORRUPT:
            return StoreCorruptError(self._corrupt_message(str(error)))
        if code in _WRITE_FAILURES:
            return StoreWriteError(f"results store {self.path} cannot be written: {error}")
        return StoreError(f"results store {self.path}: {error}")

    def _quarantine(self, error: StoreCorruptError) -> Path:
        """Move the corrupt file (and its -wal, -shm) to ``NAME.corrupt-TIMESTAMP``; returns that path."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                source.rename(Path(f"{target}{suffix}"))
        log.warning("%s; moved it to %s (store.on_corrupt: quarantine) and started a new store", error, target)
        return target

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
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    # A failed COMMIT leaves the transaction open too; every later BEGIN would fail.
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as error:
                failure = self._translate(error)
                if isinstance(failure, StoreWriteError):
                    self._shrink_wal()
                raise failure from error

    def _shrink_wal(self) -> None:
        """Copy the WAL into the database and truncate it: on a full disk the WAL (which keeps every
        version of a page until a checkpoint) may hold most of the space, and a failed commit never
        triggers the automatic checkpoint. Best effort: the database file may have no room either."""
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as error:
            log.debug("checkpoint of %s failed: %s", self.path, error)

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as error:
                raise self._translate(error) from error

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- producers -------------------------------------------------------------------------

    def bind(self, fingerprints: Mapping[tuple[str, str], Mapping[str, Any]]) -> list[ProducerChange]:
        """Read and write only the rows of these producers, one fingerprint per (variant, probe).

        A fingerprint seen before finds its rows again; a new one starts with none. Rows from before
        producers existed (schema 2) are claimed by the first config bound to the store. A probe the
        config does not replay keeps the rows of a producer whose ``variant`` (the fingerprint's
        definition of the variant) is the config's. Returns the (variant, probe) pairs whose producer
        is new while the store holds rows of an earlier one.
        """
        changes: list[ProducerChange] = []
        ids: dict[tuple[str, str], int] = {}
        with self._transaction() as db:
            for (variant, probe), fingerprint in fingerprints.items():
                text = json.dumps(fingerprint, sort_keys=True, default=str)
                row = db.execute("SELECT id FROM producers WHERE variant = ? AND probe = ? AND fingerprint = ?",
                                 (variant, probe, text)).fetchone()
                if row is not None:
                    ids[(variant, probe)] = int(row[0])
                    continue
                earlier = db.execute(
                    "SELECT p.fingerprint FROM producers p WHERE p.variant = ? AND p.probe = ? AND EXISTS "
                    "(SELECT 1 FROM done d WHERE d.producer = p.id) ORDER BY p.id DESC LIMIT 1", (variant, probe)
                ).fetchone()
                claim = db.execute("SELECT 1 FROM producers WHERE variant = ? AND probe = ? LIMIT 1",
                                   (variant, probe)).fetchone() is None
                cursor = db.execute(
                    "INSERT INTO producers (variant, probe, fingerprint, created) VALUES (?, ?, ?, ?)",
                    (variant, probe, text, time.time()),
                )
                new = int(cursor.lastrowid or 0)
                ids[(variant, probe)] = new
                if claim:
                    for table in _TABLES:
                        db.execute(f"UPDATE {table} SET producer = ? WHERE producer = 0 AND variant = ? AND probe = ?",
                                   (new, variant, probe))
                if earlier is not None:
                    before = json.loads(earlier[0])
                    changed = sorted(k for k in set(before) | set(fingerprint) if before.get(k) != fingerprint.get(k))
                    changes.append(ProducerChange(variant, probe, changed))
            self._bind_other_probes(db, fingerprints, ids)
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('producers', ?)",
                       (json.dumps(sorted(ids.values())),))
        self._ids = ids
        return changes

    def _bind_other_probes(self, db: sqlite3.Connection, fingerprints: Mapping[tuple[str, str], Mapping[str, Any]],
                           ids: dict[tuple[str, str], int]) -> None:
        """Probes the config does not replay keep the rows a variant of the same definition (the
        fingerprint's ``variant``, and ``served_model`` where it has one) made: nothing new is asked
        of them, so nothing is mixed."""
        definitions = {variant: _made_by(f) for (variant, _), f in fingerprints.items() if "variant" in f}
        for variant, definition in definitions.items():
            kept: dict[str, int] = {}
            for id_, probe, text in db.execute(
                "SELECT id, probe, fingerprint FROM producers WHERE variant = ? ORDER BY id", (variant,)
            ).fetchall():
                if (variant, probe) not in ids and _made_by(json.loads(text)) == definition:
                    kept[probe] = int(id_)  # the newest of that definition
            for (probe,) in db.execute("SELECT DISTINCT probe FROM done WHERE producer = 0 AND variant = ?",
                                       (variant,)).fetchall():
                if (variant, probe) in ids or probe in kept:
                    continue
                fingerprint = {**json.loads(definition), "items": None, "generation": None, "scorer": None}
                cursor = db.execute(
                    "INSERT INTO producers (variant, probe, fingerprint, created) VALUES (?, ?, ?, ?)",
                    (variant, probe, json.dumps(fingerprint, sort_keys=True, default=str), time.time()),
                )
                kept[probe] = int(cursor.lastrowid or 0)
                for table in _TABLES:
                    db.execute(f"UPDATE {table} SET producer = ? WHERE producer = 0 AND variant = ? AND probe = ?",
                               (kept[probe], variant, probe))
            ids.update({(variant, probe): id_ for probe, id_ in kept.items()})

    def bound_fingerprints(self) -> dict[tuple[str, str], dict[str, Any]]:
        """The fingerprint of each bound (variant, probe): of the last config bound, in a store just opened."""
        if not self._ids:
            return {}
        with self._reading() as db:
            rows = db.execute(f"SELECT variant, probe, fingerprint FROM producers WHERE id IN "
                              f"({','.join(str(i) for i in sorted(self._ids.values()))})").fetchall()
        return {(variant, probe): json.loads(text) for variant, probe, text in rows}

    def _load_bound(self) -> None:
        """The producers of the last bound config, so that a store opened without one reads the same rows."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'producers'").fetchone()
        if row is None:
            return
        wanted = set(json.loads(row[0]))
        rows = self._db.execute("SELECT id, variant, probe FROM producers").fetchall()
        self._ids = {(variant, probe): int(id_) for id_, variant, probe in rows if id_ in wanted}

    def _bound(self, alias: str = "") -> str:
        """The SQL condition that keeps the bound producers' rows (every row when unbound)."""
        if self._ids is None:
            return "1"
        return f"{alias}producer IN ({','.join(str(i) for i in sorted(self._ids.values())) or 'NULL'})"

    def _producer(self, variant: str, probe: str) -> int:
        if self._ids is None:
            return 0
        try:
            return self._ids[(variant, probe)]
        except KeyError:
            raise StoreError(f"results store {self.path}: no producer bound for variant {variant!r}, "
                             f"probe {probe!r}") from None

    # -- writing ---------------------------------------------------------------------------

    def record(self, variant: str, round_: int, records: Sequence[ItemRecord]) -> None:
        """Append the items' outcomes and generations and mark them done, in one transaction."""
        now = time.time()
        with self._transaction() as db:
            for record in records:
                producer = self._producer(variant, record.probe)
                db.executemany(
                    "INSERT INTO outcomes (round, item_id, variant, probe, grp, metric, value, template, created,"
                    " producer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (round_, record.item_id, variant, record.probe, record.group, row["metric"],
                         float(row["value"]), row.get("template"), now, producer)
                        for row in record.outcomes
                    ],
                )
                db.executemany(
                    "INSERT INTO generations (round, item_id, variant, probe, grp, sample, prompt, text, score,"
                    " producer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (round_, record.item_id, variant, record.probe, record.group, g["sample"], g["prompt"],
                         g["text"], g.get("score"), producer)
                        for g in record.generations
                    ],
                )
                db.execute(
                    "INSERT OR REPLACE INTO done (round, item_id, variant, probe, created, producer)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (round_, record.item_id, variant, record.probe, now, producer),
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
        with self._reading() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def check_writable(self) -> None:
        """Write and remove a row in one committed transaction: StoreWriteError when the store cannot
        take a write now (the disk is full), so that replay does not answer a slice it cannot store."""
        with self._lock:
            self._shrink_wal()
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('write_check', ?)", (json.dumps(time.time()),))
            db.execute("DELETE FROM meta WHERE key = 'write_check'")

    # -- reading ---------------------------------------------------------------------------

    def done_items(self, variant: str, round_: int) -> set[str]:
        with self._reading() as db:
            rows = db.execute(
                f"SELECT item_id FROM done WHERE variant = ? AND round = ? AND {self._bound()}", (variant, round_)
            ).fetchall()
        return {r[0] for r in rows}

    def done_counts(self, round_: int | None = None) -> dict[tuple[str, str], int]:
        """Items done per (variant, probe), in one round or over all rounds (the bound producers' only)."""
        query = f"SELECT variant, probe, COUNT(*) FROM done WHERE {self._bound()}"
        params: tuple[Any, ...] = ()
        if round_ is not None:
            query += " AND round = ?"
            params = (round_,)
        with self._reading() as db:
            rows = db.execute(query + " GROUP BY variant, probe", params).fetchall()
        return {(v, p): n for v, p, n in rows}

    def count_outcomes(self) -> int:
        """Outcome rows stored, of every producer."""
        with self._reading() as db:
            return int(db.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0])

    def latest_round(self) -> int:
        """The newest round that holds data (of any producer); 0 for an empty store."""
        with self._reading() as db:
            row = db.execute("SELECT MAX(round) FROM done").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def holds_round(self, round_: int) -> bool:
        """Whether any item is done in the round (a round that holds no data does not count)."""
        with self._reading() as db:
            return db.execute("SELECT 1 FROM done WHERE round = ? LIMIT 1", (round_,)).fetchone() is not None

    def _latest(self, table: str, columns: str) -> list[tuple[Any, ...]]:
        """Rows of ``table``, each (variant, item)'s from the latest round in which it was answered."""
        query = f"""
            SELECT {columns} FROM {table} t
            JOIN (SELECT variant, producer, item_id, MAX(round) AS r FROM done WHERE {self._bound()}
                  GROUP BY variant, producer, item_id) d
              ON t.variant = d.variant AND t.item_id = d.item_id AND t.round = d.r AND t.producer = d.producer
            ORDER BY t.id
        """
        with self._reading() as db:
            return db.execute(query).fetchall()

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
        with self._reading() as db:
            rows = db.execute(
                "SELECT COALESCE(variant, ''), stage, COUNT(*) FROM errors GROUP BY 1, 2"
            ).fetchall()
        return {(v, s): n for v, s, n in rows}

    def apply_retention(self, keep_rounds: int) -> int:
        """Delete all but the newest ``keep_rounds`` rounds that hold data; returns outcome rows deleted.

        Rounds that hold no data do not count, so skipped round numbers never push real history out.
        """
        if keep_rounds < 1:
            raise ValueError(f"keep_rounds must be >= 1, got {keep_rounds}")
        with self._transaction() as db:
            row = db.execute("SELECT DISTINCT round FROM done ORDER BY round DESC LIMIT 1 OFFSET ?",
                             (keep_rounds - 1,)).fetchone()
            if row is None:
                return 0
            cutoff = int(row[0])
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
