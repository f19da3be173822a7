"""The replay engine under failure: a bad item does not hold back the others, a round always
ends, and a number that is not finite never reaches the store."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from trustwatch.common.requests import (
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)
from trustwatch.monitors.policy import load_policy
from trustwatch.monitors.scorers import create_scorer
from trustwatch.probes.builtin import builtin_pack
from trustwatch.server.analysis import analyse
from trustwatch.server.backends.transformers_backend import TransformersBackend
from trustwatch.server.config import VariantConfig
from trustwatch.server.replay import ReplayEngine
from trustwatch.server.store import Store
from trustwatch.server.variants import Variant


class Faulty:
    """The real tiny backend, with one fault injected for requests whose text contains ``marker``."""

    def __init__(self, backend: TransformersBackend, marker: str | None, fault: str = "raise") -> None:
        self.backend = backend
        self.marker = marker
        self.fault = fault

    def _hit(self, request: LoglikelihoodRequest) -> bool:
        return self.marker is None or self.marker in request.context + request.continuation

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        if self.fault == "raise" and any(self._hit(r) for r in requests):
            raise RuntimeError("injected backend failure")
        results = self.backend.loglikelihood(requests)
        if self.fault == "nan":
            results = [LoglikelihoodResult(math.nan, r.tokens, r.is_greedy) if self._hit(q) else r
                       for q, r in zip(requests, results, strict=True)]
        return results

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        return self.backend.generate(requests)


@pytest.fixture(scope="module")
def tiny_backend(tiny_model_dir: Path) -> TransformersBackend:
    return TransformersBackend(str(tiny_model_dir))


def engine_and_variant(tmp_path: Path, backend: object) -> tuple[ReplayEngine, Variant, Store]:
    store = Store(tmp_path / "store.sqlite")
    variant = Variant(VariantConfig(name="v", model="tiny"), state="ready", backend=backend)  # type: ignore[arg-type]
    return ReplayEngine(store, create_scorer("profanity")), variant, store


def error_messages(store: Store, item_id: str) -> list[str]:
    with store._lock:
        return [m for (m,) in store._db.execute("SELECT message FROM errors WHERE item_id = ?", (item_id,))]


def test_an_item_that_always_fails_is_given_up_and_the_round_ends(tiny_backend, tmp_path: Path) -> None:
    items = builtin_pack("crows_pairs")[:4]
    bad = items[1]
    engine, variant, store = engine_and_variant(tmp_path, Faulty(tiny_backend, bad.payload["more"]))
    first = engine.run_slice([variant], items, 0)
    assert store.done_items("v", 0) == {i.id for i in items} - {bad.id}
    assert first.errors["backend"] == 2  # the slice, then the bad item alone
    for _ in range(engine.max_item_attempts - 1):
        engine.run_slice([variant], items, 0)
    assert store.done_items("v", 0) == {i.id for i in items}
    assert not [r for r in store.outcome_rows() if r["item_id"] == bad.id]
    assert any("gave up on the item for this round after 3 failed attempts" in m for m in error_messages(store, bad.id))


def test_a_backend_that_fails_on_everything_gives_up_no_item(tiny_backend, tmp_path: Path) -> None:
    items = builtin_pack("crows_pairs")[:3]
    engine, variant, store = engine_and_variant(tmp_path, Faulty(tiny_backend, None))
    for _ in range(engine.max_item_attempts + 1):
        result = engine.run_slice([variant], items, 0)
        assert result.items == 0
    assert store.done_items("v", 0) == set()


def test_an_item_with_a_value_that_is_not_finite_is_kept_out_and_named(tiny_backend, tmp_path: Path) -> None:
    items = builtin_pack("perplexity")[:3]
    bad = items[0]
    engine, variant, store = engine_and_variant(tmp_path, Faulty(tiny_backend, bad.payload["text"], fault="nan"))
    result = engine.run_slice([variant], items, 0)
    assert result.errors == {"probe": 1}
    assert store.done_items("v", 0) == {i.id for i in items}
    rows = store.outcome_rows()
    assert all(math.isfinite(r["value"]) for r in rows)
    assert {r["item_id"] for r in rows} == {i.id for i in items[1:]}
    assert error_messages(store, bad.id) == ["nll is nan: not a finite number"]


def test_analysis_of_rows_it_cannot_read_is_a_note_not_an_exception() -> None:
    rows = [{"item_id": "a", "variant": v, "probe": "crows_pairs", "group": "g", "metric": "stereotype_preferred",
             "value": math.nan} for v in ("base", "cand")]
    analysis = analyse(rows, "base", ["cand"], load_policy(None))
    assert analysis.verdicts == []
    assert "value must be finite" in analysis.notes[0]
