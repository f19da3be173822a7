"""The item schema shared by every probe set, and its JSONL form.

An item is one probe question: a stable ``id`` (derived from the dataset's own ids or row
numbers, so that runs resume and variants pair on it), its ``probe`` (the probe kind that
renders it), its ``group`` (the protected group or category it speaks about), its
``payload`` (what the probe kind needs, checked against :data:`PAYLOAD_FIELDS`) and, when
several items are instances of one template, the ``template`` id that makes them a
cluster for the statistics.

A probe-set file holds one item per line as a JSON object:
``{"id": ..., "probe": ..., "group": ..., "template": ... (optional), "payload": {...}}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trustwatch.common.jsonl import iter_jsonl
from trustwatch.probes.errors import DataError

PROBES: tuple[str, ...] = ("toxicity", "stereotype_agreement", "crows_pairs", "bbq", "dialect", "perplexity")
"""The probe kinds, by name (the ``probe`` field of items and outcomes)."""

RESERVED_GROUP = "all"
"""The group name of the overall value; no item may carry it."""

PAYLOAD_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "toxicity": {"prompt": str},
    "stereotype_agreement": {"statement": str},
    "crows_pairs": {"more": str, "less": str},
    "bbq": {
        "context": str,
        "question": str,
        "answers": list,
        "label": int,
        "unknown": int,
        "target": int,
        "polarity": str,
        "condition": str,
    },
    "dialect": {"aae": str, "sae": str},
    "perplexity": {"text": str},
}
"""The payload fields each probe kind requires, with their types. Other fields are kept as they are.

- toxicity: ``prompt`` (the text to continue).
- stereotype_agreement: ``statement``; optional ``prompt`` (the full user prompt, e.g. DecodingTrust's,
  asking to end with "I agree." or "I disagree."; built from ``statement`` when absent) and ``system``
  (a system prompt, prepended to the user message).
- crows_pairs: ``more`` (the more stereotyping sentence) and ``less``.
- bbq: ``context``, ``question``, ``answers`` (three strings), ``label`` (index of the correct answer),
  ``unknown`` (index of the "unknown" answer), ``target`` (index of the answer naming the stereotyped
  group), ``polarity`` (``neg`` or ``nonneg``), ``condition`` (``ambig`` or ``disambig``).
- dialect: ``aae`` and ``sae`` (the same content in African American English and in Standard American
  English).
- perplexity: ``text``.
"""


def validate_payload(probe: str, payload: Any) -> None:
    """Raise ``ValueError`` naming the first field that is missing or wrong for ``probe``."""
    if probe not in PAYLOAD_FIELDS:
        raise ValueError(f"unknown probe {probe!r}; the probes are {', '.join(PROBES)}")
    if not isinstance(payload, Mapping):
        raise ValueError(f"payload must be an object, got {type(payload).__name__}")
    for name, kind in PAYLOAD_FIELDS[probe].items():
        if name not in payload:
            raise ValueError(f"{probe} payload lacks field {name!r}")
        value = payload[name]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ValueError(f"{probe} payload field {name!r} must be {_type_name(kind)}, got {value!r}")
        if isinstance(value, str) and not value.strip():
            raise ValueError(f"{probe} payload field {name!r} is empty")
    if probe == "bbq":
        _validate_bbq(payload)
    if probe == "stereotype_agreement":
        for name in ("prompt", "system"):
            if name in payload and not isinstance(payload[name], str):
                raise ValueError(f"stereotype_agreement payload field {name!r} must be a string")


def _validate_bbq(payload: Mapping[str, Any]) -> None:
    answers = payload["answers"]
    if len(answers) != 3 or not all(isinstance(a, str) and a.strip() for a in answers):
        raise ValueError(f"bbq payload field 'answers' must hold three non-empty strings, got {answers!r}")
    for name in ("label", "unknown", "target"):
        if not 0 <= payload[name] <= 2:
            raise ValueError(f"bbq payload field {name!r} must be 0, 1 or 2, got {payload[name]!r}")
    if payload["target"] == payload["unknown"]:
        raise ValueError("bbq payload: 'target' and 'unknown' name the same answer")
    if payload["polarity"] not in ("neg", "nonneg"):
        raise ValueError(f"bbq payload field 'polarity' must be neg or nonneg, got {payload['polarity']!r}")
    if payload["condition"] not in ("ambig", "disambig"):
        raise ValueError(f"bbq payload field 'condition' must be ambig or disambig, got {payload['condition']!r}")


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({"str": "a string", "int": "an integer", "list": "a list"}.get(k.__name__, k.__name__)
                       for k in kinds)


@dataclass(frozen=True)
class Item:
    """One probe item. ``payload`` is checked against the probe's fields on construction."""

    id: str
    probe: str
    group: str
    payload: Mapping[str, Any]
    template: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise ValueError(f"item id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.group, str) or not self.group.strip():
            raise ValueError(f"item {self.id}: group must be a non-empty string, got {self.group!r}")
        if self.group == RESERVED_GROUP:
            raise ValueError(f"item {self.id}: group {RESERVED_GROUP!r} is reserved for the overall value")
        if self.template is not None and (not isinstance(self.template, str) or not self.template.strip()):
            raise ValueError(f"item {self.id}: template must be a non-empty string or absent, got {self.template!r}")
        try:
            validate_payload(self.probe, self.payload)
        except ValueError as error:
            raise ValueError(f"item {self.id}: {error}") from None

    def to_json(self) -> dict[str, Any]:
        """The item as a JSON object (``template`` only when the item has one)."""
        out: dict[str, Any] = {"id": self.id, "probe": self.probe, "group": self.group}
        if self.template is not None:
            out["template"] = self.template
        out["payload"] = dict(self.payload)
        return out

    @classmethod
    def from_json(cls, obj: Any) -> Item:
        """An item from a JSON object; ``ValueError`` says which field is missing or wrong."""
        if not isinstance(obj, Mapping):
            raise ValueError(f"an item must be a JSON object, got {type(obj).__name__}")
        missing = [name for name in ("id", "probe", "group", "payload") if name not in obj]
        if missing:
            raise ValueError(f"item lacks field(s) {', '.join(missing)}")
        unknown = sorted(set(obj) - {"id", "probe", "group", "payload", "template"})
        if unknown:
            raise ValueError(f"item has unknown field(s) {', '.join(unknown)}")
        return cls(obj["id"], obj["probe"], obj["group"], obj["payload"], obj.get("template"))


def read_items(path: str | Path) -> list[Item]:
    """Read a probe-set JSONL file (blank lines skipped); errors name the file and the line.

    Ids must be unique within the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("no such probe-set file", path)
    items: list[Item] = []
    seen: dict[str, int] = {}
    for number, obj in iter_jsonl(path, lambda message, line: DataError(message, path, line)):
        try:
            item = Item.from_json(obj)
        except ValueError as error:
            raise DataError(str(error), path, number) from None
        if item.id in seen:
            raise DataError(f"duplicate item id {item.id!r} (first at line {seen[item.id]})", path, number)
        seen[item.id] = number
        items.append(item)
    return items


def write_items(items: Iterable[Item], path: str | Path) -> int:
    """Write items as JSONL (UTF-8, one object per line); returns how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for item in items:
            handle.write(json.dumps(item.to_json(), ensure_ascii=False) + "\n")
            count += 1
    return count


def counts_by_group(items: Iterable[Item]) -> dict[str, int]:
    """How many items each group has, groups sorted by name."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item.group] = counts.get(item.group, 0) + 1
    return dict(sorted(counts.items()))
