"""The one root of the errors trustwatch raises on purpose, and the few kinds that matter to callers.

Every error class of ours derives from ``TrustwatchError`` through one of these kinds; the CLI
(``server/cli/common.py``: ``exit_code``) and the gRPC layer (``server/grpc_errors.py``) each map
the kinds to exit codes and status codes in one place. Each class keeps the built-in base that
code outside ours catches (``ValueError`` for bad input, ``KeyError`` for an unknown name,
``FileNotFoundError`` for missing data, ``RuntimeError`` for something not available now).
"""

from __future__ import annotations


class TrustwatchError(Exception):
    """The root: an error trustwatch raises on purpose, with a message meant for the user."""


class InputError(TrustwatchError, ValueError):
    """Bad input: a config, policy, option, request, data or outcomes file that cannot be used.

    The message names where: ``FILE: key: reason`` or ``FILE:LINE: reason``.
    """


class ConfigError(InputError):
    """A configuration that cannot be used (a config file, a gate policy, compression options).

    The message names the file and the key: ``FILE: key: reason``.
    """


class NotFoundError(TrustwatchError):
    """Something named does not exist: a variant, a dataset's files."""


class UnavailableError(TrustwatchError, RuntimeError):
    """Something that exists cannot serve now: a variant still loading or failed, a missing extra."""


class OverloadedError(TrustwatchError, RuntimeError):
    """The service is at capacity: the call was shed at once rather than queued; retry later."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Seconds after which a retry may be admitted (a hint, not a promise)."""


class StoreError(TrustwatchError, RuntimeError):
    """The results store cannot be opened or used (a corrupt file, a newer schema)."""
