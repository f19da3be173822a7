"""Stopping a long backend call from the thread that made it.

A caller that may need to stop (replay, when the service drains) runs its backend calls inside
``interruptible(check)``; a backend that loops in Python (the transformers backend: each batch,
each decoding step) calls ``check_interrupt()``, which raises :class:`Interrupted` once ``check()``
is true. The check belongs to the calling thread, so a live request answered by the same backend
in another thread is never interrupted by it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from trustwatch.common.errors import TrustwatchError

_local = threading.local()


class Interrupted(TrustwatchError):
    """A backend call stopped midway because its caller's ``check`` turned true; no result."""


@contextmanager
def interruptible(check: Callable[[], bool]) -> Iterator[None]:
    """Backend calls made in this thread inside the block stop with :class:`Interrupted` once
    ``check()`` is true."""
    previous = getattr(_local, "check", None)
    _local.check = check
    try:
        yield
    finally:
        _local.check = previous


def check_interrupt() -> None:
    """Raise :class:`Interrupted` if this thread runs inside ``interruptible`` and its check is true."""
    check = getattr(_local, "check", None)
    if check is not None and check():
        raise Interrupted("interrupted by its caller")
