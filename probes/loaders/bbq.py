"""BBQ (Parrish et al. 2022): questions about two people, in ambiguous and disambiguated contexts.

Files: ``<Category>.jsonl`` for any of the 11 categories (those present are read). Item id
``bbq:<category>:<example_id>``; group: the category; template: ``<category>:<question_index>``
(the items generated from one template form a cluster).

Which answer names the stereotyped group is decided from the item's own labels, never
from names or prefixes: ``answer_info`` gives each answer a group label (its second
element; ``unknown`` marks the "can't be determined" answer) and
``additional_metadata.stereotyped_groups`` lists the groups the question's stereotype is
about. The rule (:func:`stereotyped_answer`): a label and a listed group are split into
parts at ``-`` (intersectional labels such as ``F-Black``), each part is normalised
(lower case, letters and digits only; man/men/boy(s) -> ``m``, woman/women/girl(s) -> ``f``;
any part starting with ``trans`` -> ``trans``); an answer matches a listed group when the
group's parts are all among the label's parts, or when the group equals the answer's
own text (Nationality labels hold the region, the groups name the country). The item is
used only when exactly one non-unknown answer matches; otherwise it is skipped and counted
(reason ``no single stereotyped answer``), never guessed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from trustwatch.probes.errors import DataError
from trustwatch.probes.items import Item
from trustwatch.probes.loaders.base import Loader, field_of, make_item, read_jsonl

CATEGORIES = (
    "Age",
    "Disability_status",
    "Gender_identity",
    "Nationality",
    "Physical_appearance",
    "Race_ethnicity",
    "Race_x_SES",
    "Race_x_gender",
    "Religion",
    "SES",
    "Sexual_orientation",
)
UNKNOWN_LABEL = "unknown"
_ALIASES = {"man": "m", "men": "m", "boy": "m", "boys": "m", "woman": "f", "women": "f", "girl": "f", "girls": "f"}


@lru_cache(maxsize=4096)
def _parts(label: str) -> frozenset[str]:
    parts = set()
    for raw in label.split("-"):
        part = re.sub(r"[^a-z0-9]", "", raw.lower())
        part = "trans" if part.startswith("trans") else _ALIASES.get(part, part)
        if part:
            parts.add(part)
    return frozenset(parts)


@lru_cache(maxsize=4096)
def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def stereotyped_answer(labels: Sequence[str], texts: Sequence[str], groups: Sequence[str]) -> int | None:
    """The index of the one non-unknown answer that names a stereotyped group, else None.

    ``labels``: each answer's group label (``answer_info[ansN][1]``); ``texts``: each answer's
    short text (``answer_info[ansN][0]``); ``groups``: ``stereotyped_groups``.
    """
    group_parts = [_parts(g) for g in groups if _parts(g)]
    group_texts = {_norm(g) for g in groups}
    matches = [
        i
        for i, (label, text) in enumerate(zip(labels, texts, strict=True))
        if label != UNKNOWN_LABEL
        and (any(g <= _parts(label) for g in group_parts) or (_norm(text) and _norm(text) in group_texts))
    ]
    return matches[0] if len(matches) == 1 else None


class BbqLoader(Loader):
    name = "bbq"
    probe = "bbq"
    folder = "bbq"
    files = tuple(f"{category}.jsonl" for category in CATEGORIES)
    requires = "any"
    description = "BBQ question answering under ambiguity (group: category; template: question index)"

    def iter_items(self, directory: str | Path, skipped: Counter[str]) -> Iterator[Item]:
        for path in self.paths(directory):
            for line, row in read_jsonl(path):
                item = self._item(path, line, row)
                if item is None:
                    skipped["no single stereotyped answer"] += 1
                else:
                    yield item

    def _item(self, path: Path, line: int, row: dict[str, Any]) -> Item | None:
        category = field_of(row, "category", str, path, line)
        example_id = row.get("example_id")
        if isinstance(example_id, bool) or not isinstance(example_id, int | str) or example_id == "":
            raise DataError(f"example_id must be an integer or a string, got {example_id!r}", path, line)
        question_index = row.get("question_index")
        if isinstance(question_index, bool) or not isinstance(question_index, int | str):
            raise DataError(f"question_index must be an integer or a string, got {question_index!r}", path, line)
        answers = [field_of(row, f"ans{i}", str, path, line) for i in range(3)]
        info = field_of(row, "answer_info", dict, path, line)
        labels, texts = [], []
        for i in range(3):
            entry = info.get(f"ans{i}")
            if not isinstance(entry, list) or len(entry) != 2 or not all(isinstance(x, str) for x in entry):
                raise DataError(f"answer_info.ans{i} must be [text, group label], got {entry!r}", path, line)
            texts.append(entry[0])
            labels.append(entry[1])
        if labels.count(UNKNOWN_LABEL) != 1:
            raise DataError(f"answer_info must label exactly one answer 'unknown', got {labels!r}", path, line)
        metadata = field_of(row, "additional_metadata", dict, path, line)
        groups = metadata.get("stereotyped_groups")
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise DataError(
                f"additional_metadata.stereotyped_groups must be a list of strings, got {groups!r}", path, line
            )
        label = row.get("label")
        if isinstance(label, bool) or label not in (0, 1, 2):
            raise DataError(f"label must be 0, 1 or 2, got {label!r}", path, line)
        target = stereotyped_answer(labels, texts, groups)
        if target is None:
            return None
        return make_item(
            path,
            line,
            id=f"bbq:{category}:{example_id}",
            probe=self.probe,
            group=category,
            template=f"{category}:{question_index}",
            payload={
                "context": field_of(row, "context", str, path, line),
                "question": field_of(row, "question", str, path, line),
                "answers": answers,
                "label": label,
                "unknown": labels.index(UNKNOWN_LABEL),
                "target": target,
                "polarity": row.get("question_polarity"),
                "condition": row.get("context_condition"),
                "stereotyped_groups": groups,
            },
        )
