"""The one map from our errors to gRPC status codes; handlers call through ``call`` or ``abort_for``.

``NotFoundError`` (an unknown variant) is NOT_FOUND, ``UnavailableError`` (a variant still
loading or failed) is UNAVAILABLE, ``OverloadedError`` (a live call shed at capacity) is
RESOURCE_EXHAUSTED with trailing metadata ``retry-after`` (seconds), bad input (``InputError``,
any ``ValueError``) is INVALID_ARGUMENT; anything else is left to gRPC (UNKNOWN, with the
traceback in the log).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn, TypeVar

import grpc

from trustwatch.common.errors import InputError, NotFoundError, OverloadedError, UnavailableError

T = TypeVar("T")


def status_code(error: BaseException) -> grpc.StatusCode | None:
    """The status code for an error of ours; None: not one we map."""
    if isinstance(error, NotFoundError):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(error, UnavailableError):
        return grpc.StatusCode.UNAVAILABLE
    if isinstance(error, OverloadedError):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(error, InputError | ValueError):
        return grpc.StatusCode.INVALID_ARGUMENT
    return None


def abort_for(context: grpc.ServicerContext, error: Exception) -> NoReturn:
    """End the call with the error's status code and its message (re-raise one we do not map)."""
    code = status_code(error)
    if code is None:
        raise error
    if isinstance(error, OverloadedError):
        context.set_trailing_metadata((("retry-after", f"{error.retry_after:g}"),))
    context.abort(code, str(error))
    raise AssertionError("context.abort returned")  # it raises; this line is never reached


def call(context: grpc.ServicerContext, fn: Callable[[], T]) -> T:
    """``fn()``, with an error of ours turned into the matching status."""
    try:
        return fn()
    except Exception as error:
        if status_code(error) is None:
            raise
        abort_for(context, error)
