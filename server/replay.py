"""The replay engine: ask every variant the same slice of items, score, store the outcomes.

For one variant and one slice, every item's requests are rendered by its probe kind and
sent to the backend in two calls (all log-likelihood requests, all generate requests), so
that the backend batches across items; generated texts that need a classifier go to the
scorer in one call; each item's outcomes are then written to the store in one transaction
per slice. Items already marked done for the round are skipped, so a restarted run or
service goes on where it stopped.

Failures are recorded, never folded into numbers: a backend error leaves the slice's items
not done (they are asked again next cycle) and counts an error; a scorer that raises gives
every text a failed score (the toxicity kind turns that into ``scorer_error`` outcomes); an
item whose responses a kind cannot read is marked done with no outcomes and an error.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from trustwatch.probes.items import Item
from trustwatch.probes.kinds import PROBE_KINDS, ProbeSettings
from trustwatch.server.backends.base import LoglikelihoodRequest
from trustwatch.server.store import ItemRecord, Store
from trustwatch.server.variants import Variant


class ReplayObserver(Protocol):
    """What the engine reports as it goes (the Prometheus exporter implements it)."""

    def backend_request(self, variant: str, kind: str, seconds: float) -> None: ...

    def items_done(self, variant: str, probe: str, count: int) -> None: ...

    def error(self, variant: str, stage: str) -> None: ...


class _NoObserver:
    def backend_request(self, variant: str, kind: str, seconds: float) -> None:
        pass

    def items_done(self, variant: str, probe: str, count: int) -> None:
        pass

    def error(self, variant: str, stage: str) -> None:
        pass


@dataclass
class SliceResult:
    items: int = 0
    """Items answered (over all variants)."""
    errors: dict[str, int] = field(default_factory=dict)
    """Counted problems by stage: backend, scorer, probe, and the kinds' own (unparsed, scorer_error)."""
    seconds: float = 0.0


class ReplayEngine:
    def __init__(
        self,
        store: Store,
        scorer: Any,
        settings: dict[str, ProbeSettings] | ProbeSettings | None = None,
        observer: ReplayObserver | None = None,
        chunk_size: int = 32,
    ) -> None:
        self.chunk_size = chunk_size
        self.store = store
        self.scorer = scorer
        self.settings = settings
        self.observer: ReplayObserver = observer or _NoObserver()

    def settings_for(self, probe: str) -> ProbeSettings:
        if isinstance(self.settings, ProbeSettings):
            return self.settings
        if isinstance(self.settings, dict) and probe in self.settings:
            return self.settings[probe]
        return PROBE_KINDS[probe].default_settings

    def run_slice(self, variants: Sequence[Variant], items: Sequence[Item], round_: int) -> SliceResult:
        """Every ready variant answers the items it has not answered in this round."""
        started = time.perf_counter()
        result = SliceResult()
        for variant in variants:
            if variant.state != "ready" or variant.backend is None:
                continue
            done = self.store.done_items(variant.name, round_)
            todo = [item for item in items if item.id not in done]
            if todo:
                self._answer(variant, todo, round_, result)
        result.seconds = time.perf_counter() - started
        return result

    def _count(self, result: SliceResult, variant: str, stage: str, n: int = 1) -> None:
        result.errors[stage] = result.errors.get(stage, 0) + n
        for _ in range(n):
            self.observer.error(variant, stage)

    def _answer(self, variant: Variant, items: list[Item], round_: int, result: SliceResult) -> None:
        backend = variant.backend
        assert backend is not None
        rendered = []
        by_kind: dict[str, list[Any]] = defaultdict(list)
        for item in items:
            kind = PROBE_KINDS[item.probe]
            requests = kind.render(item, self.settings_for(item.probe))
            start = len(by_kind[kind.request])
            by_kind[kind.request].extend(requests)
            rendered.append((item, kind, requests, start))
        responses: dict[str, list[Any]] = {}
        try:
            for request_kind, requests in by_kind.items():
                spans = [(start, len(reqs)) for _, kind, reqs, start in rendered if kind.request == request_kind]
                answers: list[Any] = [None] * len(requests)
                for chunk in _chunks(requests, spans, self.chunk_size):
                    with variant.gate.replay():
                        began = time.perf_counter()
                        asked = [requests[i] for i in chunk]
                        got = backend.loglikelihood(asked) if request_kind == "loglikelihood" else backend.generate(asked)
                        self.observer.backend_request(variant.name, request_kind, time.perf_counter() - began)
                    for i, answer in zip(chunk, got, strict=True):
                        answers[i] = answer
                responses[request_kind] = answers
        except Exception as error:  # recorded; the items stay not done and are asked again
            self.store.record_error("backend", f"{type(error).__name__}: {error}", variant.name)
            self._count(result, variant.name, "backend")
            return

        scores = self._scores(variant.name, rendered, responses, result)
        records: list[ItemRecord] = []
        per_probe: dict[str, int] = defaultdict(int)
        for item, kind, requests, start in rendered:
            answers = responses[kind.request][start : start + len(requests)]
            try:
                outcome = kind.outcomes(item, requests, answers, scores.get(item.id))
            except (ValueError, TypeError) as error:
                self.store.record_error("probe", str(error), variant.name, item.id)
                self._count(result, variant.name, "probe")
                records.append(ItemRecord(item.id, item.probe, item.group, []))
                continue
            for stage, n in outcome.errors.items():
                if n:
                    self._count(result, variant.name, stage, n)
            records.append(
                ItemRecord(
                    item.id,
                    item.probe,
                    item.group,
                    outcome.rows(),
                    [
                        {"sample": g.sample, "prompt": g.prompt, "text": g.text, "score": g.score}
                        for g in outcome.generations
                    ],
                )
            )
            per_probe[item.probe] += 1
        self.store.record(variant.name, round_, records)
        result.items += len(records)
        for probe, n in per_probe.items():
            self.observer.items_done(variant.name, probe, n)

    def _scores(
        self, variant: str, rendered: list[Any], responses: dict[str, list[Any]], result: SliceResult
    ) -> dict[str, list[float | None]]:
        """Scores for the texts of the kinds that need them, in one scorer call."""
        wanted = [(item, responses[kind.request][start : start + len(reqs)])
                  for item, kind, reqs, start in rendered if kind.needs_scores]
        texts = [answer.text for _, answers in wanted for answer in answers]
        if not texts:
            return {}
        try:
            flat = list(self.scorer.score(texts))
            if len(flat) != len(texts):
                raise ValueError(f"scorer returned {len(flat)} scores for {len(texts)} texts")
        except Exception as error:  # every text then counts as a scorer failure
            self.store.record_error("scorer", f"{type(error).__name__}: {error}", variant)
            self._count(result, variant, "scorer")
            flat = [None] * len(texts)
        out: dict[str, list[float | None]] = {}
        position = 0
        for item, answers in wanted:
            out[item.id] = flat[position : position + len(answers)]
            position += len(answers)
        return out


def _chunks(requests: Sequence[Any], spans: Sequence[tuple[int, int]], size: int) -> Iterator[list[int]]:
    """Request indices in chunks of about ``size``, longest items first, an item's requests together.

    Chunks keep a live request's wait to one chunk. Ordering the slice's items by length
    before chunking lets the backend's length-sorted batches pad little even though each
    sees one chunk; keeping an item's requests in one chunk lets it pack their shared prefix.
    """
    def length(span: tuple[int, int]) -> int:
        start, count = span
        return sum(_text_length(r) for r in requests[start : start + count])

    chunk: list[int] = []
    for start, count in sorted(spans, key=length, reverse=True):
        if chunk and len(chunk) + count > size:
            yield chunk
            chunk = []
        chunk.extend(range(start, start + count))
    if chunk:
        yield chunk


def _text_length(request: Any) -> int:
    """Characters the model reads: a cheap stand-in for tokens when ordering by length."""
    if isinstance(request, LoglikelihoodRequest):
        return len(request.context) + len(request.continuation)
    return len(request.prompt)
