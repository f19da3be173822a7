"""How the replay engine cuts a slice's requests into backend calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trustwatch.common.requests import GenerateRequest, LoglikelihoodRequest
from trustwatch.server.replay import _chunks

if TYPE_CHECKING:
    from pathlib import Path


def test_chunks_keep_an_item_together_and_go_longest_first() -> None:
    # Three items: two requests of 1 char, three of 30 chars (one context, three answers), two of 10.
    requests = [LoglikelihoodRequest("", "a"), LoglikelihoodRequest("", "b")]
    requests += [LoglikelihoodRequest("x" * 28, f" {c}") for c in "pqr"]
    requests += [LoglikelihoodRequest("", "y" * 10), LoglikelihoodRequest("", "z" * 10)]
    spans = [(0, 2), (2, 3), (5, 2)]
    chunks = list(_chunks(requests, spans, size=lambda: 4))
    assert chunks == [[2, 3, 4], [5, 6, 0, 1]]
    assert sorted(i for chunk in chunks for i in chunk) == list(range(7))


def test_an_item_larger_than_a_chunk_is_not_split() -> None:
    requests = [GenerateRequest(prompt="p" * n) for n in (5, 5, 5, 1)]
    assert list(_chunks(requests, [(0, 3), (3, 1)], size=lambda: 2)) == [[0, 1, 2], [3]]


def test_the_chunk_size_is_asked_again_at_every_chunk() -> None:
    requests = [GenerateRequest(prompt="p" * (10 - n)) for n in range(6)]
    sizes = iter([1, 3, 8])
    assert list(_chunks(requests, [(i, 1) for i in range(6)], size=lambda: next(sizes))) == [[0], [1, 2, 3], [4, 5]]


def test_replay_batches_fully_without_live_traffic_and_in_small_chunks_with_it(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The service's engine (chunks of 2 here while live traffic is present, 32 while none is) on
    a real backend: how many backend calls one slice of 8 CrowS-Pairs items (16 requests) takes."""
    from trustwatch.probes.builtin import builtin_pack
    from trustwatch.server.backend_scheduler import BackendScheduler
    from trustwatch.server.backends.transformers_backend import TransformersBackend
    from trustwatch.server.config import VariantConfig
    from trustwatch.server.replay import ReplayEngine
    from trustwatch.server.store import Store
    from trustwatch.server.variants import Variant

    calls: list[int] = []

    class Counting:
        def backend_request(self, variant: str, request_kind: str, seconds: float) -> None:
            calls.append(1)

        def items_done(self, variant: str, probe: str, count: int) -> None:
            pass

        def error(self, variant: str, stage: str) -> None:
            pass

    items = builtin_pack("crows_pairs")[:8]
    scheduler = BackendScheduler(replay_share=1.0)
    backend = TransformersBackend(str(tiny_model_dir), batch_size=32)
    variant = Variant(VariantConfig(name="tiny", model=str(tiny_model_dir)), state="ready", backend=backend,
                      scheduler=scheduler)
    store = Store(tmp_path / "store.sqlite")
    engine = ReplayEngine(store, None, observer=Counting(), chunk_size=2, idle_chunk_size=32)
    engine.run_slice([variant], items, 0)
    assert len(calls) == 1  # no live traffic: the slice's 16 requests in one call
    with scheduler.live():  # a live request was answered just now
        pass
    calls.clear()
    engine.run_slice([variant], items, 1)
    assert len(calls) == 8  # live traffic present: one item (2 requests) per call
    store.close()
