"""Admission of live calls: a bound on the ``Generate``/``Score`` calls waiting or running at once.

Every live call is admitted before it queues on a variant's ``LiveBatcher``; once
``limits.max_queued_calls`` calls are in, one more is shed at once with ``OverloadedError``
(gRPC: RESOURCE_EXHAUSTED, with trailing metadata ``retry-after`` in seconds) rather than queued
without bound. Since at most that many calls hold a gRPC worker thread while they wait, the server
keeps workers beyond the bound free for everything else: health checks, status, the gate.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from trustwatch.common.errors import OverloadedError

RETRY_AFTER_SECONDS = 1.0
"""The retry hint a shed call carries."""


class LiveAdmission:
    def __init__(self, bound: int, on_shed: Callable[[str], None] = lambda variant: None) -> None:
        self.bound = bound
        self.on_shed = on_shed
        self._admitted = 0
        self._lock = threading.Lock()

    @property
    def admitted(self) -> int:
        """Live calls admitted and not yet answered."""
        return self._admitted

    @contextmanager
    def admit(self, variant: str) -> Iterator[None]:
        """Hold one place while the call waits and runs; shed the call when every place is taken."""
        with self._lock:
            full = self._admitted >= self.bound
            if not full:
                self._admitted += 1
        if full:
            self.on_shed(variant)
            raise OverloadedError(
                f"server busy: {self.bound} live calls are already waiting or running "
                f"(limits.max_queued_calls); retry after {RETRY_AFTER_SECONDS:g} s",
                retry_after=RETRY_AFTER_SECONDS,
            )
        try:
            yield
        finally:
            with self._lock:
                self._admitted -= 1
