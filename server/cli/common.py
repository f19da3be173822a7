"""What every command shares: --json and --quiet, progress bars, errors, printing."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from trustwatch.common.errors import InputError, NotFoundError, StoreError, TrustwatchError, UnavailableError

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
"""Bad input (config, policy, options, data, arguments); ``gate`` and ``diff`` use 3 (2 is INCONCLUSIVE there)."""
EXIT_INTERRUPTED = 130


class CliError(TrustwatchError):
    """A user-facing error: printed as one line, the process exits with ``code``."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def exit_code(error: BaseException, args: argparse.Namespace) -> int | None:
    """The one map from an error to the process's exit code; None: not a user-facing error (traceback).

    A command changes two things with ``set_defaults``: ``bad_input_exit`` (its code for bad input)
    and ``runtime_errors=True`` (any ``RuntimeError`` is reported in one line, exit 1).
    """
    if isinstance(error, CliError):
        return error.code
    if isinstance(error, InputError | NotFoundError | StoreError | ValueError):
        # a ValueError that reaches the CLI is a bad value the user gave (an argument, a file)
        return int(getattr(args, "bad_input_exit", EXIT_BAD_INPUT))
    if isinstance(error, UnavailableError):
        return EXIT_FAILURE
    if isinstance(error, RuntimeError) and getattr(args, "runtime_errors", False):
        return EXIT_FAILURE
    return None


def common_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print machine-readable JSON")
    common.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    return common


def progress_enabled(args: argparse.Namespace) -> bool:
    """Progress bars go to stderr: shown only on a terminal and without --quiet."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def emit(args: argparse.Namespace, payload: Any, text: str) -> None:
    """Print ``payload`` as JSON with --json, else the human-readable ``text``."""
    if getattr(args, "json", False):
        print(json.dumps(payload, indent=2, sort_keys=False))
    else:
        print(text)
