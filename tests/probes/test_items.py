"""The item schema, its JSONL form, and the built-in packs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trustwatch.probes import (
    PROBE_KINDS,
    PROBES,
    DataError,
    Item,
    builtin_items,
    builtin_pack,
    read_items,
    write_items,
)
from trustwatch.probes.items import PAYLOAD_FIELDS


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = {"id": "x:1", "probe": "perplexity", "group": "g", "payload": {"text": "A made-up sentence."}}


def test_round_trip(tmp_path: Path) -> None:
    items = [
        Item("a:1", "dialect", "feature", {"aae": "made up one", "sae": "made up two"}),
        Item("a:2", "crows_pairs", "age", {"more": "first", "less": "second"}, template="t1"),
    ]
    path = tmp_path / "set.jsonl"
    assert write_items(items, path) == 2
    assert read_items(path) == items
    first = json.loads(path.read_text().splitlines()[0])
    assert "template" not in first
    assert json.loads(path.read_text().splitlines()[1])["template"] == "t1"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "must be a JSON object"),
        (json.dumps({**GOOD, "payload": {}}), "lacks field 'text'"),
        (json.dumps({**GOOD, "probe": "nope"}), "unknown probe 'nope'"),
        (json.dumps({**GOOD, "group": "all"}), "reserved"),
        (json.dumps({**GOOD, "id": ""}), "id must be a non-empty string"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "group"}), "lacks field(s) group"),
        (json.dumps({**GOOD, "extra": 1}), "unknown field(s) extra"),
        (json.dumps({**GOOD, "payload": {"text": "  "}}), "is empty"),
        (
            json.dumps({"id": "b", "probe": "bbq", "group": "g", "payload": {
                "context": "c", "question": "q", "answers": ["a", "b"], "label": 0, "unknown": 1, "target": 0,
                "polarity": "neg", "condition": "ambig"}}),
            "three non-empty strings",
        ),
        (
            json.dumps({"id": "b", "probe": "bbq", "group": "g", "payload": {
                "context": "c", "question": "q", "answers": ["a", "b", "c"], "label": 0, "unknown": 1,
                "target": 1, "polarity": "neg", "condition": "ambig"}}),
            "same answer",
        ),
    ],
)
def test_read_errors_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path / "bad.jsonl", [json.dumps(GOOD), "", line])
    with pytest.raises(DataError) as caught:
        read_items(path)
    assert str(caught.value).startswith(f"{path}:3: ")
    assert message in str(caught.value)


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "dup.jsonl", [json.dumps(GOOD), json.dumps(GOOD)])
    with pytest.raises(DataError, match=r"dup.jsonl:2: duplicate item id 'x:1' \(first at line 1\)"):
        read_items(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such probe-set file"):
        read_items(tmp_path / "none.jsonl")


def test_builtin_packs_cover_every_kind_with_groups() -> None:
    assert set(PROBES) == set(PROBE_KINDS) == set(PAYLOAD_FIELDS)
    for probe in PROBES:
        items = builtin_pack(probe)
        assert 20 <= len(items) <= 60, probe
        assert all(item.probe == probe for item in items)
        assert len({item.group for item in items}) >= 3, probe
    ids = [item.id for item in builtin_items()]
    assert len(ids) == len(set(ids))
    bbq = builtin_pack("bbq")
    assert {(i.payload["condition"], i.payload["polarity"]) for i in bbq} == {
        ("ambig", "neg"), ("ambig", "nonneg"), ("disambig", "neg"), ("disambig", "nonneg")
    }
    assert all(i.payload["label"] == i.payload["unknown"] for i in bbq if i.payload["condition"] == "ambig")
    assert all(i.template for i in bbq + builtin_pack("stereotype_agreement"))


def test_builtin_packs_copy_no_dataset_text(shared_probesets: Path) -> None:
    corpus = "\n".join(
        path.read_text(encoding="utf-8", errors="ignore").lower()
        for path in shared_probesets.rglob("*")
        if path.is_file() and path.suffix in {".csv", ".jsonl", ".json", ".txt"}
    )
    for item in builtin_items():
        for value in item.payload.values():
            if isinstance(value, str) and len(value) > 30:
                assert value.lower() not in corpus, (item.id, value)
