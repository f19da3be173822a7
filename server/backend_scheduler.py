"""Who may use a variant's backend next: live requests before replay, replay within its share.

A backend answers one batch at a time. Live requests (gRPC ``Generate``/``Score``) wait
only for the batch in flight; replay waits while any live request is waiting, and after
each replay batch it pauses, while live traffic has been seen in the last ``window``
seconds, long enough that replay uses at most ``replay_share`` of the backend's time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class BackendScheduler:
    def __init__(self, replay_share: float = 1.0, window: float = 5.0) -> None:
        if not 0 < replay_share <= 1:
            raise ValueError(f"replay_share must be in (0, 1], got {replay_share}")
        self.replay_share = replay_share
        self.window = window
        self._cond = threading.Condition()
        self._busy = False
        self._live_waiting = 0
        self._last_live = float("-inf")

    @contextmanager
    def live(self) -> Iterator[None]:
        with self._cond:
            self._live_waiting += 1
            while self._busy:
                self._cond.wait()
            self._live_waiting -= 1
            self._busy = True
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._last_live = time.monotonic()
                self._cond.notify_all()

    def live_recently(self) -> bool:
        """A live request waits now, or one was answered in the last ``window`` seconds."""
        with self._cond:
            return bool(self._live_waiting) or time.monotonic() - self._last_live < self.window

    @contextmanager
    def replay(self) -> Iterator[None]:
        with self._cond:
            while self._busy or self._live_waiting:
                self._cond.wait()
            self._busy = True
        started = time.monotonic()
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
                live_recently = time.monotonic() - self._last_live < self.window
            if live_recently and self.replay_share < 1:
                elapsed = time.monotonic() - started
                time.sleep(elapsed * (1 - self.replay_share) / self.replay_share)
