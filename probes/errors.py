"""The one error for bad probe data: it names the file and, where one is to blame, the line."""

from __future__ import annotations

from pathlib import Path

from trustwatch.common.errors import InputError, NotFoundError


class DataError(InputError):
    """A malformed dataset row or probe-set line: ``FILE:LINE: what was wrong``.

    ``where`` stands in for a line in files that have no meaningful one (a key path
    inside a JSON document, such as ``American_actors/Jacob_Zachar[0]``).
    """

    def __init__(self, message: str, path: str | Path = "", line: int | None = None, where: str = "") -> None:
        self.path = str(path)
        self.line = line
        self.where = where
        location = self.path
        if line is not None:
            location = f"{location}:{line}"
        if where:
            location = f"{location}: {where}" if location else where
        super().__init__(f"{location}: {message}" if location else message)
        self.reason = message


class MissingDataError(NotFoundError, FileNotFoundError):
    """A loader's files are not in the directory the user named (never downloaded)."""
