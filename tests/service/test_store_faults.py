"""The store under faults, on real SQLite files: producers (a store from another config), rounds
that hold no data, a file corrupted mid-file, a disk that fills up (a real tmpfs, as root)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from trustwatch.server.store import (
    ItemRecord,
    Store,
    StoreCorruptError,
    StoreWriteError,
)

from .test_corrupt_store import corrupt_store
from .tmpfs import fill, mount_tmpfs


def record(item: str, value: float = 1.0, probe: str = "crows_pairs") -> ItemRecord:
    return ItemRecord(item, probe, "race", [{"metric": "stereotype_preferred", "value": value}],
                      [{"sample": 0, "prompt": "p", "text": "t", "score": None}])


def fingerprints(rtn_bits: int = 4, variants: tuple[str, ...] = ("base", "cand")) -> dict:
    out = {}
    for variant in variants:
        definition = {"model": "m"} if variant == "base" else {"from": {"model": "m"}, "bits": rtn_bits}
        out[(variant, "crows_pairs")] = {"variant": definition, "items": "abc", "generation": None, "scorer": None}
    return out


def values(store: Store) -> dict[tuple[str, str], float]:
    return {(r["variant"], r["item_id"]): r["value"] for r in store.outcome_rows()}


# -- producers: a store from another config ------------------------------------------------------


def test_a_redefined_variant_starts_afresh_and_its_old_outcomes_are_never_mixed(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = Store(path)
    assert store.bind(fingerprints(4)) == []
    store.record("base", 0, [record("a"), record("b")])
    store.record("cand", 0, [record("a", 0.0), record("b", 0.0)])
    store.close()

    store = Store(path)
    [change] = store.bind(fingerprints(3))  # cand: 4-bit -> 3-bit under the same name
    assert (change.variant, change.probe, change.changed) == ("cand", "crows_pairs", ["variant"])
    assert values(store) == {("base", "a"): 1.0, ("base", "b"): 1.0}, "the 4-bit outcomes must not be read"
    assert store.done_items("cand", 0) == set(), "the 3-bit variant answers every item again"
    assert store.done_counts(0) == {("base", "crows_pairs"): 2}
    store.record("cand", 0, [record("a", 0.5)])
    assert values(store)[("cand", "a")] == 0.5 and ("cand", "b") not in values(store)
    assert store.count_outcomes() == 5, "nothing stored is deleted"
    store.close()

    # Back to the 4-bit definition: its own outcomes come back, the 3-bit one's are not read.
    store = Store(path)
    store.bind(fingerprints(4))
    assert values(store) == {("base", "a"): 1.0, ("base", "b"): 1.0, ("cand", "a"): 0.0, ("cand", "b"): 0.0}
    store.close()


def test_a_removed_variant_is_not_read_even_without_a_config(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = Store(path)
    store.bind(fingerprints())
    store.record("base", 0, [record("a")])
    store.record("cand", 0, [record("a", 0.0)])
    store.bind(fingerprints(variants=("base",)))
    assert values(store) == {("base", "a"): 1.0}
    store.close()
    # A store opened with no config (trustwatch gate store.sqlite) reads what the last config read.
    reopened = Store(path)
    assert values(reopened) == {("base", "a"): 1.0}
    reopened.close()


def test_rows_from_before_producers_are_claimed_by_the_first_config(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = Store(path)  # unbound, as a schema-2 store's rows were written
    store.record("base", 0, [record("a")])
    store.record("cand", 0, [record("a", 0.0)])
    store.close()
    store = Store(path)
    assert store.bind(fingerprints()) == []
    assert values(store) == {("base", "a"): 1.0, ("cand", "a"): 0.0}
    [change] = store.bind(fingerprints(3))
    assert change.variant == "cand" and values(store) == {("base", "a"): 1.0}
    store.close()


# -- rounds that hold no data ----------------------------------------------------------------------


def test_retention_counts_only_rounds_that_hold_data(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.record("base", 0, [record("a"), record("b")])
    store.record("base", 20, [record("a", 0.0)])  # rounds 1-19 were skipped and hold nothing
    assert not store.holds_round(5) and store.holds_round(20)
    assert store.apply_retention(2) == 0, "round 0 is one of the newest 2 rounds that hold data"
    assert store.done_counts() == {("base", "crows_pairs"): 3}
    store.record("base", 21, [record("a", 0.5)])
    assert store.apply_retention(2) == 2
    assert store.done_counts() == {("base", "crows_pairs"): 2}
    store.close()


# -- a corrupt file --------------------------------------------------------------------------------


def test_a_store_corrupted_mid_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    corrupt_store(path)
    with pytest.raises(StoreCorruptError, match=f"results store {path} is corrupt"):
        Store(path)
    assert path.exists(), "refusing moves nothing"


def test_a_corrupt_store_is_moved_aside_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    corrupt_store(path)
    original = path.read_bytes()
    store = Store(path, on_corrupt="quarantine")
    assert store.quarantined is not None and store.quarantined.name.startswith("s.sqlite.corrupt-")
    assert store.quarantined.read_bytes() == original, "the corrupt file is kept, as it was"
    assert store.count_outcomes() == 0
    store.record("base", 0, [record("a")])
    assert store.count_outcomes() == 1
    store.close()


def test_a_file_that_is_not_sqlite_is_never_moved(tmp_path: Path) -> None:
    path = tmp_path / "outcomes.jsonl"
    path.write_text('{"item_id": "a"}\n' * 100)
    with pytest.raises(StoreCorruptError, match=str(path)):
        Store(path, on_corrupt="quarantine")
    assert path.read_text().startswith('{"item_id"')


# -- a full disk -----------------------------------------------------------------------------------


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    yield from mount_tmpfs(tmp_path / "tmpfs", "2m")


def test_a_full_disk_fails_the_write_whole_and_the_store_goes_on_once_freed(small_tmpfs: Path) -> None:
    store = Store(small_tmpfs / "s.sqlite")
    store.record("base", 0, [record("a")])
    ballast = fill(small_tmpfs)
    with pytest.raises(StoreWriteError, match="cannot be written: database or disk is full"):
        for i in range(200):  # the WAL has some room left in its pages: write until it has none
            store.record("base", 0, [record(f"x{i}-{j}") for j in range(50)])
    stored = store.count_outcomes()
    with pytest.raises(StoreWriteError):
        store.check_writable()
    ballast.unlink()
    store.check_writable()
    store.record("base", 0, [record("b")])
    assert store.count_outcomes() == stored + 1
    store.close()
    with closing(sqlite3.connect(small_tmpfs / "s.sqlite")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_probe_the_config_does_not_replay_keeps_the_rows_of_the_same_variant(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = Store(path)  # rows from before producers, of a probe the config below does not replay
    store.record("base", 0, [record("s1", 0.2, probe="sim"), record("a", probe="crows_pairs")])
    store.record("cand", 0, [record("s1", 0.4, probe="sim")])
    store.close()
    store = Store(path)
    store.bind(fingerprints())
    assert values(store) == {("base", "s1"): 0.2, ("base", "a"): 1.0, ("cand", "s1"): 0.4}
    store.close()
    store = Store(path)
    store.bind(fingerprints())  # a restart with the same config reads the same rows
    assert values(store) == {("base", "s1"): 0.2, ("base", "a"): 1.0, ("cand", "s1"): 0.4}
    store.bind(fingerprints(3))  # cand redefined: its rows of every probe are left out
    assert values(store) == {("base", "s1"): 0.2, ("base", "a"): 1.0}
    store.close()


def test_the_producer_of_a_probe_changes_with_its_items_and_settings() -> None:
    from trustwatch.server.config import parse_config
    from trustwatch.server.probe_sources import collect_items
    from trustwatch.server.producers import producer_fingerprints
    from trustwatch.server.runtime import generation_settings

    def keys(limit: int, k: int, bits: int, batch: int = 8) -> dict:
        config = parse_config({
            "baseline": "o", "probes": [{"builtin": "all", "limit": limit}], "generation": {"k": k},
            "variants": [{"name": "o", "model": "embedded:smollm2-135m", "options": {"batch_size": batch}},
                         {"name": "q", "from": "o", "compress": {"method": "rtn", "bits": bits}}],
        }, "<test>", Path.cwd())
        return producer_fingerprints(config, generation_settings(config), collect_items(config.probes))

    base = keys(3, 2, 4)
    assert keys(3, 2, 4, batch=32) == base, "a batch size changes no answer"
    changed = keys(3, 3, 4)
    assert {key for key in base if base[key] != changed[key]} == {
        (v, p) for v in "oq" for p in ("toxicity", "stereotype_agreement")}
    changed = keys(3, 2, 3)
    assert {key for key in base if base[key] != changed[key]} == {key for key in base if key[0] == "q"}
    changed = keys(2, 2, 4)
    assert all(base[key]["items"] != changed[key]["items"] for key in base)
    # The transformers backend's sampler is part of a generation probe's producer only: samples
    # of an earlier draw start afresh, every likelihood answer is kept.
    sampled = {key for key, value in base.items() if "sampler" in value}
    assert sampled == {(v, p) for v in "oq" for p in ("toxicity", "stereotype_agreement")}
    assert all(set(value) == {"variant", "items", "generation", "scorer"} for key, value in base.items()
               if key not in sampled)


def test_the_served_model_is_part_of_a_served_variants_producer(tmp_path: Path) -> None:
    """A canary redeployed behind the same URL and served name: the model its server lists
    (``/v1/models``: root, max_model_len ...) keys its producer, and only an openai variant's."""
    from trustwatch.server.config import parse_config
    from trustwatch.server.probe_sources import collect_items
    from trustwatch.server.producers import bound_served_models, producer_fingerprints
    from trustwatch.server.runtime import generation_settings

    config = parse_config({
        "baseline": "o", "probes": [{"builtin": "crows_pairs", "limit": 3}],
        "variants": [{"name": "o", "model": "embedded:smollm2-135m"},
                     {"name": "canary", "backend": "openai",
                      "options": {"base_url": "http://model-server-canary:8000/v1", "model": "llm"}}],
    }, "<test>", Path.cwd())
    settings, items = generation_settings(config), collect_items(config.probes)
    a = {"root": "/models/original", "max_model_len": 2048}
    b = {"root": "/models/gptq-w4", "max_model_len": 2048}

    def keys(served: dict | None) -> dict:
        return producer_fingerprints(config, settings, items, served)

    unknown, first, second = keys(None), keys({"canary": a, "o": b}), keys({"canary": b})
    key = ("canary", "crows_pairs")
    assert "served_model" not in unknown[key], "not asked yet: no served model in the producer"
    assert first[key]["served_model"] == a and second[key]["served_model"] == b
    assert first[key] != second[key], "two served models, two producers"
    assert unknown[("o", "crows_pairs")] == first[("o", "crows_pairs")] == second[("o", "crows_pairs")]
    assert "served_model" not in first[("o", "crows_pairs")], "a hosted variant's producer keeps its key"

    path = tmp_path / "s.sqlite"
    store = Store(path)
    assert store.bind(first) == []
    store.record("o", 0, [record("a", 1.0)])
    store.record("canary", 0, [record("a", 0.0), record("b", 0.0)])
    [change] = store.bind(second)  # the canary pod replaced: same URL and name, another model
    assert (change.variant, change.probe, change.changed) == ("canary", "crows_pairs", ["served_model"])
    assert values(store) == {("o", "a"): 1.0}, "the model served before is not counted"
    assert store.done_items("canary", 0) == set() and store.done_items("o", 0) == {"a"}
    store.record("canary", 0, [record("a", 0.5)])
    assert values(store) == {("o", "a"): 1.0, ("canary", "a"): 0.5}
    assert store.count_outcomes() == 4, "nothing stored is deleted"
    store.close()

    # A restart binds the canary with the model it served last until its server is asked again.
    store = Store(path)
    assert bound_served_models(config, store.bound_fingerprints()) == {"canary": b}
    assert store.bind(keys(bound_served_models(config, store.bound_fingerprints()))) == []
    assert values(store) == {("o", "a"): 1.0, ("canary", "a"): 0.5}
    store.bind(first)  # the first model served again: its own answers come back
    assert values(store) == {("o", "a"): 1.0, ("canary", "a"): 0.0, ("canary", "b"): 0.0}
    store.close()
