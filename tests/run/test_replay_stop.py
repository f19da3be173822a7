"""Replay told to stop (a service draining) stops before its next backend chunk and stores nothing
of the slice part it had not finished; what another variant finished is kept, and the next run
asks only the rest."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from trustwatch.common.requests import (
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)
from trustwatch.monitors.scorers import create_scorer
from trustwatch.probes.builtin import builtin_pack
from trustwatch.server.backends.transformers_backend import TransformersBackend
from trustwatch.server.config import VariantConfig
from trustwatch.server.replay import ReplayEngine, ReplayStopped
from trustwatch.server.store import Store
from trustwatch.server.variants import Variant


class Counting:
    """The real tiny backend; sets ``stop`` after its ``stop_after``-th call."""

    def __init__(self, backend: TransformersBackend, stop: threading.Event, stop_after: int | None) -> None:
        self.backend, self.stop, self.stop_after, self.calls = backend, stop, stop_after, 0

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        self.calls += 1
        if self.calls == self.stop_after:
            self.stop.set()
        return self.backend.loglikelihood(requests)


@pytest.fixture(scope="module")
def tiny_backend(tiny_model_dir: Path) -> TransformersBackend:
    return TransformersBackend(str(tiny_model_dir))


def test_a_stop_between_chunks_abandons_the_unfinished_part_of_the_slice(tiny_backend, tmp_path: Path) -> None:
    items = builtin_pack("crows_pairs")[:6]
    stop = threading.Event()
    first = Counting(tiny_backend, stop, None)
    second = Counting(tiny_backend, stop, 1)  # the stop comes while the second variant is on its slice
    variants = [Variant(VariantConfig(name=name, model="tiny"), state="ready", backend=backend)  # type: ignore[arg-type]
                for name, backend in (("a", first), ("b", second))]
    store = Store(tmp_path / "store.sqlite")
    engine = ReplayEngine(store, create_scorer("profanity"), chunk_size=4, stopping=stop.is_set)
    with pytest.raises(ReplayStopped, match="'b'"):
        engine.run_slice(variants, items, 0)
    assert second.calls == 1  # no chunk after the stop
    assert store.done_items("a", 0) == {i.id for i in items}
    assert store.done_items("b", 0) == set()  # nothing half-done is stored
    assert not store.error_counts()  # a stop is not a backend error
    stop.clear()
    asked_before = first.calls
    ReplayEngine(store, create_scorer("profanity"), chunk_size=4).run_slice(variants, items, 0)
    assert first.calls == asked_before  # a's answers were kept
    assert store.done_items("b", 0) == {i.id for i in items}


class StopsWhileGenerating:
    """The real tiny backend; the stop comes once its generate call has begun."""

    def __init__(self, backend: TransformersBackend, stop: threading.Event) -> None:
        self.backend, self.stop, self.returned = backend, stop, False

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        self.stop.set()
        results = self.backend.generate(requests)
        self.returned = True
        return results


def test_a_stop_interrupts_the_backend_call_in_flight(tiny_backend, tmp_path: Path) -> None:
    items = builtin_pack("toxicity")[:2]
    stop = threading.Event()
    backend = StopsWhileGenerating(tiny_backend, stop)
    variant = Variant(VariantConfig(name="v", model="tiny"), state="ready", backend=backend)  # type: ignore[arg-type]
    store = Store(tmp_path / "store.sqlite")
    engine = ReplayEngine(store, create_scorer("profanity"), stopping=stop.is_set)
    with pytest.raises(ReplayStopped, match="'v'"):
        engine.run_slice([variant], items, 0)
    assert not backend.returned  # stopped inside the generation, not after it
    assert store.done_items("v", 0) == set() and not store.error_counts()
    # a live call in another thread, or one outside `interruptible`, is not stopped by it
    assert len(tiny_backend.generate([GenerateRequest("Hi", max_new_tokens=2)])) == 1
