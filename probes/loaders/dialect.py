"""AAE / SAE pairs with the same meaning, onto the ``dialect`` probe.

- ``dialect_habitual_be`` (Hofmann et al. 2024, dialect-prejudice repository): ``habitual.txt``,
  one ``AAE<TAB>SAE`` pair per line, no header. Item id ``dialect_habitual_be:<line>``;
  group ``habitual_be``.
- ``dialect_redial`` (Lin et al. 2025, ReDial): ``<task>.json`` for algorithm, comprehensive,
  logic and math, each ``{"vanilla": {"original": [...], "aave": [...]}, "cot": {...}}`` where
  index i of both lists is the same item rewritten by a human AAVE speaker. The ``vanilla``
  prompts are read. Item id ``dialect_redial:<task>:<index>``; group: the task.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from trustwatch.probes.errors import DataError
from trustwatch.probes.items import Item
from trustwatch.probes.loaders.base import Loader, field_of, make_item, read_json

REDIAL_TASKS = ("algorithm", "comprehensive", "logic", "math")
REDIAL_STYLE = "vanilla"


class HabitualBeLoader(Loader):
    name = "dialect_habitual_be"
    probe = "dialect"
    folder = "dialect_habitual_be"
    files = ("habitual.txt",)
    description = "habitual-be AAE/SAE sentence pairs (group: habitual_be)"

    def iter_items(self, directory: str | Path, skipped: Counter[str]) -> Iterator[Item]:
        [path] = self.paths(directory)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as error:
            raise DataError(f"not UTF-8 text ({error.reason})", path) from None
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                skipped["blank line"] += 1
                continue
            fields = text.split("\t")
            if len(fields) != 2 or not all(f.strip() for f in fields):
                raise DataError(f"expected 'AAE<TAB>SAE', got {len(fields)} tab-separated field(s)", path, number)
            yield make_item(
                path, number, id=f"{self.name}:{number}", probe=self.probe, group="habitual_be",
                payload={"aae": fields[0].strip(), "sae": fields[1].strip()},
            )


class RedialLoader(Loader):
    name = "dialect_redial"
    probe = "dialect"
    folder = "dialect_redial"
    files = tuple(f"{task}.json" for task in REDIAL_TASKS)
    requires = "any"
    description = "ReDial reasoning prompts in Standardized English and AAVE (group: task)"

    def iter_items(self, directory: str | Path, skipped: Counter[str]) -> Iterator[Item]:
        for path in self.paths(directory):
            task = path.name.removesuffix(".json")
            data = read_json(path)
            style = data.get(REDIAL_STYLE) if isinstance(data, dict) else None
            if not isinstance(style, dict):
                raise DataError(f"expected an object with key {REDIAL_STYLE!r}", path)
            original, aave = style.get("original"), style.get("aave")
            if not isinstance(original, list) or not isinstance(aave, list):
                raise DataError("expected lists 'original' and 'aave'", path, where=REDIAL_STYLE)
            if len(original) != len(aave):
                raise DataError(
                    f"'original' has {len(original)} items but 'aave' has {len(aave)}", path, where=REDIAL_STYLE
                )
            for index, (sae_row, aae_row) in enumerate(zip(original, aave, strict=True)):
                texts = []
                for side, row in (("original", sae_row), ("aave", aae_row)):
                    where = f"{REDIAL_STYLE}/{side}[{index}]"
                    if not isinstance(row, dict):
                        raise DataError(f"expected an object, got {type(row).__name__}", path, where=where)
                    texts.append(field_of(row, "prompt", str, path, None, where))
                yield make_item(
                    path, None, f"{REDIAL_STYLE}[{index}]",
                    id=f"{self.name}:{task}:{index}", probe=self.probe, group=task,
                    payload={"aae": texts[1], "sae": texts[0], "source": sae_row.get("data_name", "")},
                )
