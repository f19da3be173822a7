"""One way to read a config mapping into checked values: every error reads ``FILE: key: reason``.

A ``Reader`` names its source (a file, or nothing for command-line options) and the error class
its caller raises (``ConfigError``, ``PolicyError``). Its checks turn a wrong value into that
error instead of a traceback::

    reader = Reader("serve.yaml")
    replay = reader.read(ReplaySettings, raw.get("replay"), "replay")
    # serve.yaml: replay.items_per_cycle: expected an integer, got 'abc'

``read`` fills a dataclass from a mapping: unknown keys are errors (a typo must not pass
silently), each value is checked against the field's annotation (``int``, ``float``, ``bool``,
``str``, a ``Literal``, or any of them ``| None``), and ``bounded`` fields against their range.
``load_yaml`` reads a file and names the line of a syntax error.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Collection, Mapping
from dataclasses import MISSING, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from trustwatch.common.errors import ConfigError, InputError

T = TypeVar("T")

_RANGE = "trustwatch.range"


def bounded(
    default: Any, low: float | None = None, high: float | None = None, open_low: bool = False, open_high: bool = False
) -> Any:
    """A dataclass field whose value must lie in a range (``read`` checks it)."""
    return field(default=default, metadata={_RANGE: (low, high, open_low, open_high)})


def load_yaml(path: Path, error: type[InputError] = ConfigError) -> Any:
    """Read and parse a YAML file; a syntax error becomes ``FILE:LINE: not valid YAML (problem)``."""
    return parse_yaml(path.read_text(encoding="utf-8"), str(path), error)


def parse_yaml(text: str, source: str, error: type[InputError] = ConfigError) -> Any:
    """Parse YAML text read from ``source``; a syntax error names the source and the line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise error(f"{source}{line}: not valid YAML ({getattr(problem, 'problem', problem)})") from None


class Reader:
    """Checks the values of one source; every failure is ``error("SOURCE: key: reason")``."""

    def __init__(self, source: str, error: type[InputError] = ConfigError) -> None:
        self.source = source
        self.error = error

    def fail(self, key: str, reason: str) -> InputError:
        """The error to raise: ``SOURCE: key: reason`` (parts that are empty are left out)."""
        return self.error(": ".join(part for part in (self.source, key, reason) if part))

    def mapping(self, value: Any, key: str, known: Collection[str] | None = None) -> Mapping[str, Any]:
        """A mapping (None reads as empty) with no key outside ``known``."""
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(key, f"must be a mapping, got {type(value).__name__}")
        if known is not None:
            self.known_keys(value, key, known)
        return value

    def known_keys(self, value: Mapping[str, Any], key: str, known: Collection[str]) -> None:
        unknown = sorted(map(str, set(value) - set(known)))
        if unknown:
            raise self.fail(key, f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")

    def integer(self, value: Any, key: str, low: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"expected an integer, got {value!r}")
        if low is not None and value < low:
            raise self.fail(key, f"must be an integer >= {low}, got {value!r}")
        return value

    def number(
        self,
        value: Any,
        key: str,
        low: float | None = None,
        high: float | None = None,
        open_low: bool = False,
        open_high: bool = False,
    ) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"expected a number, got {value!r}")
        value = float(value)
        self._in_range(value, key, low, high, open_low, open_high)
        return value

    def flag(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"expected true or false, got {value!r}")
        return value

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"expected a non-empty string, got {value!r}")
        return value

    def choice(self, value: Any, key: str, choices: Collection[str]) -> str:
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return str(value)

    def read(self, cls: type[T], value: Any, key: str) -> T:
        """A dataclass from a mapping: known keys only, each value of its field's type and range."""
        assert is_dataclass(cls)
        values = self.mapping(value, key, [f.name for f in fields(cls)])
        hints = typing.get_type_hints(cls)
        checked: dict[str, Any] = {}
        for spec in fields(cls):
            if spec.name not in values:
                if spec.default is MISSING and spec.default_factory is MISSING:
                    raise self.fail(key, f"missing key {spec.name!r}")
                continue
            where = f"{key}.{spec.name}" if key else spec.name
            item = self._typed(values[spec.name], where, hints[spec.name])
            low, high, open_low, open_high = spec.metadata.get(_RANGE, (None, None, False, False))
            if isinstance(item, int) and not isinstance(item, bool) and high is None and not open_low:
                self.integer(item, where, None if low is None else int(low))
            elif item is not None and (low is not None or high is not None):
                self._in_range(float(item), where, low, high, open_low, open_high)
            checked[spec.name] = item
        return cls(**checked)

    def _typed(self, value: Any, key: str, hint: Any) -> Any:
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin in (Union, types.UnionType):
            if value is None and type(None) in args:
                return None
            (hint,) = [a for a in args if a is not type(None)]
            return self._typed(value, key, hint)
        if origin is Literal:
            return self.choice(value, key, [str(a) for a in args])
        if hint is bool:
            return self.flag(value, key)
        if hint is int:
            return self.integer(value, key)
        if hint is float:
            return self.number(value, key)
        if hint is str:
            return self.text(value, key)
        raise TypeError(f"schema: no check for {hint!r} ({key})")

    def _in_range(
        self, value: float, key: str, low: float | None, high: float | None, open_low: bool, open_high: bool
    ) -> None:
        too_low = low is not None and (value <= low if open_low else value < low)
        too_high = high is not None and (value >= high if open_high else value > high)
        if too_low or too_high:
            span = (
                f"{'(' if open_low else '['}{float(low) if low is not None else '-inf'}, "
                f"{float(high) if high is not None else 'inf'}{')' if open_high else ']'}"
            )
            raise self.fail(key, f"must lie in {span}, got {value!r}")
