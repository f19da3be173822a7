"""What every command shares: --json and --quiet, progress bars, errors, printing."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


class CliError(Exception):
    """A user-facing error: printed as one line, the process exits with ``code``."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


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


def input_errors() -> tuple[type[Exception], ...]:
    """The exceptions that mean bad user input (config, policy, data, store), for `run` and `serve`."""
    from trustwatch.monitors.outcomes import OutcomeError
    from trustwatch.monitors.policy import PolicyError
    from trustwatch.probes.errors import DataError, MissingDataError
    from trustwatch.server.config import ConfigError
    from trustwatch.server.store import StoreError

    return ConfigError, PolicyError, DataError, MissingDataError, OutcomeError, StoreError, ValueError
