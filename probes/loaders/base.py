"""What every dataset loader shares: finding its files, reading rows with their line numbers, sampling.

A loader reads a public dataset's own files from a directory the user names and never
downloads anything. The directory may be the dataset's folder itself or a parent that
holds it under the loader's ``folder`` name (the layout of ``shared/probesets``).
Malformed rows raise :class:`DataError` naming the file and the line; rows that are
well formed but cannot be used (a BBQ item whose stereotyped answer cannot be told) are
skipped and counted per reason, and ``summary`` reports those counts.
"""

from __future__ import annotations

import csv
import json
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trustwatch.common.jsonl import iter_jsonl
from trustwatch.probes.errors import DataError, MissingDataError
from trustwatch.probes.items import Item
from trustwatch.probes.sampling import sample_items


@dataclass
class LoaderSummary:
    """What a loader found in a directory."""

    name: str
    probe: str
    files: list[str]
    """The files found (paths)."""
    groups: dict[str, int]
    """Items per group, groups sorted by name."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Rows left out, per reason."""

    @property
    def items(self) -> int:
        return sum(self.groups.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "loader": self.name,
            "probe": self.probe,
            "files": self.files,
            "items": self.items,
            "groups": self.groups,
            "skipped": self.skipped,
        }


class Loader(ABC):
    """A public dataset mapped onto one probe kind."""

    name: str
    probe: str
    folder: str
    """The dataset's folder name inside a probesets directory."""
    files: tuple[str, ...]
    """The files it reads, relative to the dataset folder."""
    requires: str = "all"
    """``all``: every file in ``files`` must be there; ``any``: at least one (the others are optional)."""
    description: str = ""

    # ------------------------------------------------------------------ files
    def root(self, directory: str | Path) -> Path:
        """The dataset folder: ``directory/folder`` when it exists, else ``directory`` itself."""
        directory = Path(directory)
        nested = directory / self.folder
        return nested if nested.is_dir() else directory

    def found(self, directory: str | Path) -> list[Path]:
        root = self.root(directory)
        return [root / name for name in self.files if (root / name).is_file()]

    def available(self, directory: str | Path) -> bool:
        found = self.found(directory)
        return bool(found) if self.requires == "any" else len(found) == len(self.files)

    def paths(self, directory: str | Path) -> list[Path]:
        """The files to read; :class:`MissingDataError` names what is missing and where it was looked for."""
        root = self.root(directory)
        found = self.found(directory)
        if self.requires == "any" and found:
            return found
        missing = [name for name in self.files if not (root / name).is_file()]
        if not missing:
            return found
        what = "any of" if self.requires == "any" else "missing"
        raise MissingDataError(
            f"loader {self.name}: {what} {', '.join(missing)} in {root} "
            f"(give the dataset folder or a directory holding {self.folder}/)"
        )

    # ------------------------------------------------------------------ items
    @abstractmethod
    def iter_items(self, directory: str | Path, skipped: Counter[str]) -> Iterator[Item]:
        """Every item of the dataset, in file order; rows left out add their reason to ``skipped``."""

    def load(self, directory: str | Path, limit: int | None = None, seed: int = 0) -> list[Item]:
        """The dataset's items, or ``limit`` of them drawn evenly over groups (see ``sample_items``)."""
        return sample_items(self.iter_items(directory, Counter()), limit, seed)

    def summary(self, directory: str | Path) -> LoaderSummary:
        skipped: Counter[str] = Counter()
        groups: Counter[str] = Counter(item.group for item in self.iter_items(directory, skipped))
        return LoaderSummary(
            self.name,
            self.probe,
            [str(p) for p in self.paths(directory)],
            dict(sorted(groups.items())),
            dict(sorted(skipped.items())),
        )


# ---------------------------------------------------------------------- readers with line numbers
def make_item(path: Path, line: int | None, where: str = "", **fields: Any) -> Item:
    """An :class:`Item`, with a payload or field error turned into a :class:`DataError` at ``path:line``."""
    try:
        return Item(**fields)
    except ValueError as error:
        raise DataError(str(error), path, line, where) from None


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, object)`` for each non-blank line; a line that is not a JSON object is a DataError."""
    for number, obj in iter_jsonl(path, lambda message, line: DataError(message, path, line)):
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {type(obj).__name__}", path, number)
        yield number, obj


def read_csv(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line, row)`` for each CSV record (line: where the record starts); checks the header and widths."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError("empty file (no header)", path, 1) from None
        except csv.Error as error:
            raise DataError(f"unreadable CSV header ({error})", path, 1) from None
        missing = [name for name in required if name not in header]
        if missing:
            raise DataError(f"header lacks column(s) {', '.join(missing)}", path, 1)
        start = reader.line_num + 1
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise DataError(f"unreadable CSV record ({error})", path, start) from None
            if record:
                if len(record) != len(header):
                    raise DataError(f"{len(record)} fields, the header has {len(header)}", path, start)
                yield start, dict(zip(header, record, strict=True))
            start = reader.line_num + 1


def read_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise DataError(f"not valid JSON ({error.msg}, column {error.colno})", path, error.lineno) from None


def field_of(row: Mapping[str, Any], name: str, kind: type, path: Path, line: int | None, where: str = "") -> Any:
    """``row[name]`` checked to be a ``kind`` (a non-blank string for ``str``), else a DataError."""
    if name not in row:
        raise DataError(f"missing field {name!r}", path, line, where)
    value = row[name]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise DataError(f"field {name!r} must be {kind.__name__}, got {value!r}", path, line, where)
    if isinstance(value, str) and not value.strip():
        raise DataError(f"field {name!r} is empty", path, line, where)
    return value
