"""Reading JSON Lines with the line number of every row, for errors that name ``file:line``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def iter_jsonl(path: str | Path, error: Callable[[str, int], Exception]) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed value)`` for each non-blank line of ``path``.

    A line that is not valid JSON raises ``error(message, line)``: each caller names the
    exception its users expect (a data error, an outcome error, a report input error).
    """
    with Path(path).open(encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as decode:
                raise error(f"not valid JSON ({decode.msg}, column {decode.colno})", number) from None
