"""The outcomes table: one number per (item, variant, probe, outcome column), with the item's group.

A row of ``outcomes.jsonl`` is ``{"item_id", "variant", "probe", "group", "metric", "value"}``
(value numeric, binary as 0/1; the field ``metric``, a wire name kept as it is, holds the
outcome *column*, not a metric: docs/glossary.md) with an optional ``"template"``: items that share a template
form one cluster, and intervals resample clusters instead of items. Group ``all`` is
reserved for the overall value and may not appear in a row.

``load_outcomes(path)`` reads a file, ``OutcomeTable.from_rows(rows)`` takes rows already in
memory (the service); both raise :class:`OutcomeError` naming the source and the line (or
row number) of the first bad row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trustwatch.common.errors import InputError
from trustwatch.common.groups import OVERALL
from trustwatch.common.jsonl import iter_jsonl

REQUIRED_FIELDS = ("item_id", "variant", "probe", "group", "metric", "value")
RUN_OUTCOMES = "outcomes.jsonl"
"""The file name of the outcomes inside a run directory."""


class OutcomeError(InputError):
    """Bad outcomes: the message names the source and, where one is to blame, the line."""

    def __init__(self, message: str, source: str = "", line: int | None = None) -> None:
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {message}" if where else message)
        self.source = source
        self.line = line


@dataclass
class _ProbeItems:
    """The items of one probe: a dense index, their group, template and first line."""

    index: dict[str, int] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)
    templates: list[str | None] = field(default_factory=list)

    def add(self, item_id: str, group: str, template: str | None, where: tuple[str, int]) -> int:
        position = self.index.get(item_id)
        if position is None:
            position = len(self.groups)
            self.index[item_id] = position
            self.groups.append(group)
            self.templates.append(template)
            return position
        if self.groups[position] != group:
            raise OutcomeError(
                f"item {item_id!r} has group {group!r} here but {self.groups[position]!r} in an earlier row",
                *where,
            )
        known = self.templates[position]
        if template is not None:
            if known is None:
                self.templates[position] = template
            elif known != template:
                raise OutcomeError(
                    f"item {item_id!r} has template {template!r} here but {known!r} in an earlier row", *where
                )
        return position


@dataclass
class _Cell:
    """The values of one (probe, variant, metric): item positions, values and source lines."""

    positions: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)


class OutcomeTable:
    """Validated outcomes, indexed for paired statistics.

    Per probe, items get a dense position; :meth:`column` returns a float array over those
    positions with NaN where the variant has no value for the item.
    """

    def __init__(self, source: str = "<rows>") -> None:
        self.source = source
        self._items: dict[str, _ProbeItems] = {}
        self._cells: dict[tuple[str, str, str], _Cell] = {}
        self._columns: dict[tuple[str, str, str], np.ndarray] = {}
        self._first_line: dict[tuple[str, str], int] = {}
        self.rows = 0

    # ----------------------------------------------------------------------------------- building
    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]], source: str = "<rows>") -> OutcomeTable:
        """Build a table from rows in memory; errors name the row number (from 1)."""
        table = cls(source)
        for number, row in enumerate(rows, start=1):
            table._add(row, number)
        table._finish()
        return table

    def _add(self, row: Any, line: int) -> None:
        where = (self.source, line)
        if type(row) is not dict and not isinstance(row, Mapping):
            raise OutcomeError(f"a row must be a JSON object, got {type(row).__name__}", *where)
        try:
            item_id, value = row["item_id"], row["value"]
            variant, probe, group, metric = row["variant"], row["probe"], row["group"], row["metric"]
        except KeyError:
            missing = [name for name in REQUIRED_FIELDS if name not in row]
            raise OutcomeError(f"missing field(s) {', '.join(missing)}", *where) from None
        if (
            type(item_id) is not str and (isinstance(item_id, bool) or not isinstance(item_id, int))
        ) or item_id == "":
            raise OutcomeError(f"item_id must be a non-empty string or an integer, got {item_id!r}", *where)
        for name, text in (("variant", variant), ("probe", probe), ("group", group), ("metric", metric)):
            if type(text) is not str or not text.strip():
                raise OutcomeError(f"{name} must be a non-empty string, got {text!r}", *where)
        if group == OVERALL:
            raise OutcomeError(f"group {OVERALL!r} is reserved for the overall value", *where)
        if type(value) is not float:
            if isinstance(value, bool):
                value = int(value)
            if not isinstance(value, int | float):
                raise OutcomeError(f"value must be a number, got {type(value).__name__} {value!r}", *where)
            value = float(value)
        if not math.isfinite(value):
            raise OutcomeError(f"value must be finite, got {value!r}", *where)
        template = row.get("template")
        if template is not None:
            if isinstance(template, bool) or not isinstance(template, str | int):
                raise OutcomeError(f"template must be a string or an integer, got {template!r}", *where)
            template = str(template)
        items = self._items.get(probe)
        if items is None:
            items = self._items[probe] = _ProbeItems()
        position = items.add(str(item_id), group, template, where)
        key = (probe, variant, metric)
        cell = self._cells.get(key)
        if cell is None:
            cell = self._cells[key] = _Cell()
            self._first_line.setdefault((probe, variant), line)
        cell.positions.append(position)
        cell.values.append(value)
        cell.lines.append(line)
        self.rows += 1

    def _finish(self) -> None:
        for (probe, variant, metric), cell in self._cells.items():
            positions = np.asarray(cell.positions, dtype=np.int64)
            order = np.argsort(positions, kind="stable")
            repeated = np.flatnonzero(np.diff(positions[order]) == 0)
            if repeated.size:
                first, second = order[repeated[0]], order[repeated[0] + 1]
                item_id = self.item_ids(probe)[positions[first]]
                raise OutcomeError(
                    f"duplicate outcome: item {item_id!r}, variant {variant!r}, probe {probe!r}, metric "
                    f"{metric!r} already given at line {cell.lines[first]}",
                    self.source,
                    cell.lines[second],
                )
            column = np.full(len(self._items[probe].groups), np.nan)
            column[positions] = cell.values
            self._columns[(probe, variant, metric)] = column
        self._cells.clear()
        if self.rows == 0:
            raise OutcomeError("no outcome rows", self.source)

    # ------------------------------------------------------------------------------------ queries
    @property
    def variants(self) -> list[str]:
        return sorted({variant for _, variant, _ in self._columns})

    @property
    def probes(self) -> list[str]:
        return sorted(self._items)

    def columns(self, probe: str) -> list[str]:
        """The outcome columns present for ``probe`` (any variant)."""
        return sorted({column for p, _, column in self._columns if p == probe})

    def has(self, probe: str, variant: str, column: str) -> bool:
        return (probe, variant, column) in self._columns

    def variant_probes(self, variant: str) -> list[str]:
        return sorted({probe for probe, v, _ in self._columns if v == variant})

    def first_line(self, probe: str, variant: str) -> int | None:
        """The line of the first row of ``variant`` for ``probe`` (for error messages)."""
        return self._first_line.get((probe, variant))

    def n_items(self, probe: str) -> int:
        return len(self._items[probe].groups)

    def item_ids(self, probe: str) -> list[str]:
        return list(self._items[probe].index)

    def groups(self, probe: str) -> np.ndarray:
        """Each item's group (object array over item positions)."""
        return np.asarray(self._items[probe].groups, dtype=object)

    def clusters(self, probe: str) -> np.ndarray | None:
        """Each item's cluster code (items sharing a template share a code); None when no item has one."""
        templates = self._items[probe].templates
        if all(template is None for template in templates):
            return None
        codes: dict[str, int] = {}
        out = np.empty(len(templates), dtype=np.int64)
        for position, template in enumerate(templates):
            key = template if template is not None else f"\x00item{position}"
            out[position] = codes.setdefault(key, len(codes))
        return out

    def column(self, probe: str, variant: str, name: str) -> np.ndarray:
        """Values of one outcome column over the probe's item positions, NaN where the variant has none (read-only)."""
        column = self._columns.get((probe, variant, name))
        if column is None:
            column = np.full(self.n_items(probe), np.nan)
        column.flags.writeable = False
        return column

    def answered(self, probe: str, variant: str) -> np.ndarray:
        """Mask of the items the variant has at least one outcome for."""
        mask = np.zeros(self.n_items(probe), dtype=bool)
        for (p, v, _), column in self._columns.items():
            if p == probe and v == variant:
                mask |= ~np.isnan(column)
        return mask

    def check_pairing(self, baseline: str, candidate: str) -> None:
        """Raise when the baseline is unknown, or when a probe of the candidate has no item in common."""
        variants = self.variants
        for role, name in (("baseline", baseline), ("candidate", candidate)):
            if name not in variants:
                raise OutcomeError(
                    f"unknown {role} variant {name!r}; the outcomes have {', '.join(variants)}", self.source
                )
        for probe in self.variant_probes(candidate):
            line = self.first_line(probe, candidate)
            if probe not in self.variant_probes(baseline):
                raise OutcomeError(
                    f"variant {candidate!r} has outcomes for probe {probe!r} but baseline {baseline!r} has none",
                    self.source,
                    line,
                )
            if not np.any(self.answered(probe, baseline) & self.answered(probe, candidate)):
                raise OutcomeError(
                    f"variant {candidate!r}, probe {probe!r}: no item is paired with baseline {baseline!r} "
                    "(unpaired items only)",
                    self.source,
                    line,
                )


def load_outcomes(path: str | Path) -> OutcomeTable:
    """Read ``outcomes.jsonl`` (blank lines are skipped); errors name the file and the line."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise OutcomeError("no such file", source)
    table = OutcomeTable(source)
    for number, row in iter_jsonl(path, lambda message, line: OutcomeError(message, source, line)):
        table._add(row, number)
    table._finish()
    return table


def load_run(run_dir: str | Path) -> OutcomeTable:
    """Read the outcomes of a run directory (``DIR/outcomes.jsonl``)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise OutcomeError("no such run directory", str(run_dir))
    return load_outcomes(run_dir / RUN_OUTCOMES)
