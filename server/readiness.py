"""Whether the service is ready for traffic, and if not, why: one state the whole service reads.

Parts of the core set and clear named *reasons* (the service is ready when none is set):
``loading`` until every variant has loaded or failed, ``baseline`` while the baseline failed to
load, ``store`` while the results store cannot be written (replay retries by itself),
``draining`` from SIGTERM on (never cleared: the process is on its way out). The gRPC
health service (``""`` and the service name), HTTP ``/healthz`` and the Prometheus gauges
``trustwatch_ready`` and ``trustwatch_not_ready{reason}`` all read it. Liveness is not
readiness: the ``liveness`` health name stays SERVING while the process runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

LOADING = "loading"
BASELINE = "baseline"
STORE = "store"
DRAINING = "draining"


class Readiness:
    """Named reasons not to be ready; listeners hear of every change."""

    def __init__(self) -> None:
        self._reasons: dict[str, str] = {}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[bool], None]] = []

    def set(self, name: str, message: str) -> None:
        """Not ready, for this reason (a reason set again replaces its message)."""
        with self._lock:
            if self._reasons.get(name) == message:
                return
            self._reasons[name] = message
        self._notify()

    def clear(self, name: str) -> None:
        with self._lock:
            if self._reasons.pop(name, None) is None:
                return
        self._notify()

    @property
    def ready(self) -> bool:
        with self._lock:
            return not self._reasons

    def reasons(self) -> dict[str, str]:
        """Reason name -> message, in the order they were set."""
        with self._lock:
            return dict(self._reasons)

    def why(self) -> str:
        """The reasons in one line ("" when ready)."""
        return "; ".join(f"{name}: {message}" for name, message in self.reasons().items())

    def watch(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(ready)`` now and after every change."""
        with self._lock:
            self._listeners.append(listener)
        listener(self.ready)

    def _notify(self) -> None:
        ready = self.ready
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(ready)
