"""Dynamic batching of live requests: concurrent clients of one variant share backend batches.

Each variant has one worker thread. A live ``Generate``/``Score`` call queues its requests
and waits; the worker takes every queued call of the same request kind (up to ``max_batch``
requests), answers them in one backend call under the variant's ``BackendScheduler`` (live
before replay), and hands each caller its own results. Sixteen clients thus cost a few
batched forward passes instead of sixteen sequential ones.

A batch that fails as a whole (one call's request breaks a backend limit that the service's
checks cannot know, such as the model's context length) is answered again call by call, so that
only the call that fails alone gets the error, never the calls it happened to share a batch with.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from trustwatch.server.variants import Variant

log = logging.getLogger(__name__)


@dataclass
class _Call:
    request_kind: str
    requests: Sequence[Any]
    future: Future[list[Any]] = field(default_factory=Future)


class LiveBatcher:
    def __init__(
        self,
        variant: Variant,
        max_batch: int,
        on_batch: Callable[[str, str, float], None] = lambda variant, request_kind, seconds: None,
    ) -> None:
        self.variant = variant
        self.max_batch = max_batch
        self.on_batch = on_batch
        self._queue: list[_Call] = []
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=f"live-{variant.name}", daemon=True)
        self._thread.start()

    def submit(self, request_kind: str, requests: Sequence[Any]) -> list[Any]:
        call = _Call(request_kind, requests)
        with self._cond:
            if self._closed:
                raise RuntimeError(f"variant {self.variant.name!r} is shutting down")
            self._queue.append(call)
            self._cond.notify()
        return call.future.result()

    @property
    def queued(self) -> int:
        """Calls waiting for the worker (not counting the batch it is answering)."""
        with self._cond:
            return len(self._queue)

    def close(self, timeout: float = 30.0) -> bool:
        """Refuse new calls, answer the queued ones; True when the worker finished within ``timeout``."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _take(self) -> list[_Call]:
        """The oldest call and every later call of its request kind that fits in one batch."""
        first = self._queue[0]
        taken, size = [], 0
        for call in list(self._queue):
            if call.request_kind == first.request_kind and (not taken or size + len(call.requests) <= self.max_batch):
                taken.append(call)
                size += len(call.requests)
                self._queue.remove(call)
        return taken

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                calls = self._take()
            request_kind = calls[0].request_kind
            try:
                answers = self._answer(request_kind, [r for call in calls for r in call.requests])
            except BaseException as error:
                if len(calls) == 1:
                    calls[0].future.set_exception(error)
                    continue
                log.warning("live %s batch of %d calls on %s failed (%s); answering each call alone",
                            request_kind, len(calls), self.variant.name, error)
                for call in calls:
                    try:
                        call.future.set_result(self._answer(request_kind, call.requests))
                    except BaseException as alone:
                        call.future.set_exception(alone)
                continue
            position = 0
            for call in calls:
                call.future.set_result(answers[position : position + len(call.requests)])
                position += len(call.requests)

    def _answer(self, request_kind: str, requests: Sequence[Any]) -> list[Any]:
        """One backend call under the variant's scheduler (live before replay)."""
        backend = self.variant.backend
        if backend is None:
            raise RuntimeError(f"variant {self.variant.name!r} has no backend")
        with self.variant.scheduler.live():
            began = time.perf_counter()
            answers = backend.generate(requests) if request_kind == "generate" else backend.loglikelihood(requests)
            self.on_batch(self.variant.name, request_kind, time.perf_counter() - began)
        return list(answers)
