"""The replay engine: ask every variant the same slice of items, score, store the outcomes.

For one variant and one slice, every item's requests are rendered by its probe kind and
sent to the backend in two calls (all log-likelihood requests, all generate requests), so
that the backend batches across items; generated texts that need a classifier go to the
scorer in one call; each item's outcomes are then written to the store in one transaction
per slice. Items already marked done for the round are skipped, so a restarted run or
service goes on where it stopped.

Failures are recorded, never folded into numbers:

- a backend error on a slice asks its items again one at a time, so that one bad item does
  not hold back the others; items that still fail stay not done (asked again next cycle),
  and an item that fails alone ``max_item_attempts`` times in a round while other items
  answer is marked done with no outcomes, so that a round always ends;
- a scorer that raises gives every text a failed score (the toxicity kind turns that into
  ``scorer_error`` outcomes);
- an item whose responses a kind cannot read, or whose outcomes are not all finite numbers,
  is marked done with no outcomes;

each with an error in the store, a count for the observer, and (the first time a message
is seen) a warning on the ``trustwatch.replay`` logger.

A service that shuts down sets ``stopping``: the engine checks it before each backend chunk, and
a backend that supports it (transformers) inside the call, at each batch and decoding step
(``common.interrupt``); either raises :class:`ReplayStopped`, abandoning the variant's part of
the slice that is not stored yet (what a variant finished before is committed; nothing half-done
is).
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from trustwatch.common.errors import TrustwatchError
from trustwatch.common.interrupt import Interrupted, interruptible
from trustwatch.common.requests import LoglikelihoodRequest
from trustwatch.probes.items import Item
from trustwatch.probes.kinds import PROBE_KINDS, ProbeSettings
from trustwatch.server.store import ItemRecord, Store
from trustwatch.server.variants import Variant

log = logging.getLogger("trustwatch.replay")

RUN_CHUNK = 256
"""Requests per backend call when nothing else waits for the backend (``trustwatch run``, idle
replay): the backend sorts them by length and packs them into its own batches, so a larger
call pads less (CrowS-Pairs, 200 pairs at batch 8: 23 pairs/s in calls of 32, 29 in calls of 512).
"""


class ReplayStopped(TrustwatchError):
    """The engine was told to stop (``stopping``) between two backend chunks; nothing of the
    unfinished part of the slice was stored."""


class ReplayObserver(Protocol):
    """What the engine reports as it goes (the Prometheus exporter implements it)."""

    def backend_request(self, variant: str, request_kind: str, seconds: float) -> None: ...

    def items_done(self, variant: str, probe: str, count: int) -> None: ...

    def error(self, variant: str, stage: str) -> None: ...


class _NoObserver:
    def backend_request(self, variant: str, request_kind: str, seconds: float) -> None:
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
        chunk_size: int = RUN_CHUNK,
        max_item_attempts: int = 3,
        stopping: Callable[[], bool] = lambda: False,
        idle_chunk_size: int | None = None,
    ) -> None:
        self.chunk_size = chunk_size
        """Requests per backend call while live traffic shares the variant's backend."""
        self.idle_chunk_size = idle_chunk_size or chunk_size
        """Requests per backend call while no live request has been seen (``BackendScheduler.window``)."""
        self.stopping = stopping
        """Checked before each backend chunk: true raises :class:`ReplayStopped`."""
        self.max_item_attempts = max_item_attempts
        # What the current round has seen; cleared when the round changes.
        self._round: int | None = None
        self._failures: dict[tuple[str, str], tuple[int, int]] = {}
        """(variant, item) -> (lone failures, items the variant had answered at the first)."""
        self._answered: Counter[str] = Counter()
        """Items each variant answered in the round."""
        self._logged: set[tuple[str, str]] = set()
        self.store = store
        self.scorer = scorer
        self.settings = settings
        self.observer: ReplayObserver = observer or _NoObserver()

    def chunk_size_for(self, variant: Variant) -> int:
        """Small chunks while live requests use the variant's backend (they wait one chunk at most),
        full ones while none do: replay with no live traffic batches as ``trustwatch run`` does."""
        return self.chunk_size if variant.scheduler.live_recently() else self.idle_chunk_size

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
        if round_ != self._round:
            self._round = round_
            self._failures.clear()
            self._answered.clear()
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

    def _error(self, result: SliceResult, variant: str, stage: str, message: str, item_id: str | None = None) -> None:
        """Store the error, count it, and log its message the first time it is seen."""
        self.store.record_error(stage, message, variant, item_id)
        self._count(result, variant, stage)
        if (stage, message) not in self._logged:
            self._logged.add((stage, message))
            where = f" item {item_id}" if item_id else ""
            log.warning("replay %s error, variant %s%s: %s", stage, variant, where, message)

    def _answer(self, variant: Variant, items: list[Item], round_: int, result: SliceResult) -> bool:
        """Answer, score and store the items; False when the backend failed on them."""
        responses = self._ask(variant, items, result)
        if responses is not None:
            self._store(variant, responses, round_, result)
            self._answered[variant.name] += len(items)
            return True
        if len(items) > 1:
            alone = [self._answer(variant, [item], round_, result) for item in items]  # every item is asked
            return all(alone)
        self._failed_alone(variant, items[0], round_, result)
        return False

    def _failed_alone(self, variant: Variant, item: Item, round_: int, result: SliceResult) -> None:
        """Give up on an item once it failed alone ``max_item_attempts`` times in the round while the
        backend answered other items since its first failure (the item is at fault, not the backend)."""
        key = (variant.name, item.id)
        attempts, answered_then = self._failures.get(key, (0, self._answered[variant.name]))
        attempts += 1
        self._failures[key] = (attempts, answered_then)
        if attempts >= self.max_item_attempts and self._answered[variant.name] > answered_then:
            del self._failures[key]
            self._error(result, variant.name, "backend",
                        f"gave up on the item for this round after {attempts} failed attempts", item.id)
            self.store.record(variant.name, round_, [ItemRecord(item.id, item.probe, item.group, [])])

    def _ask(
        self, variant: Variant, items: list[Item], result: SliceResult
    ) -> tuple[list[Any], dict[str, list[Any]]] | None:
        """The items rendered and the backend's responses by request kind; None if the backend raised."""
        backend = variant.backend
        assert backend is not None
        rendered = []
        by_kind: dict[str, list[Any]] = defaultdict(list)
        for item in items:
            probe_kind = PROBE_KINDS[item.probe]
            requests = probe_kind.render(item, self.settings_for(item.probe))
            start = len(by_kind[probe_kind.request])
            by_kind[probe_kind.request].extend(requests)
            rendered.append((item, probe_kind, requests, start))
        responses: dict[str, list[Any]] = {}
        try:
            for request_kind, requests in by_kind.items():
                spans = [(start, len(reqs)) for _, probe_kind, reqs, start in rendered if probe_kind.request == request_kind]
                answers: list[Any] = [None] * len(requests)
                for chunk in _chunks(requests, spans, lambda: self.chunk_size_for(variant)):
                    if self.stopping():
                        raise ReplayStopped(f"replay stopped before variant {variant.name!r} finished its slice")
                    with variant.scheduler.replay(), interruptible(self.stopping):
                        began = time.perf_counter()
                        asked = [requests[i] for i in chunk]
                        got = backend.loglikelihood(asked) if request_kind == "loglikelihood" else backend.generate(asked)
                        self.observer.backend_request(variant.name, request_kind, time.perf_counter() - began)
                    for i, answer in zip(chunk, got, strict=True):
                        answers[i] = answer
                responses[request_kind] = answers
        except ReplayStopped:
            raise
        except Interrupted as error:  # stopped inside the backend call (see common.interrupt)
            raise ReplayStopped(f"replay stopped while variant {variant.name!r} answered its slice") from error
        except Exception as error:  # recorded; the items stay not done and are asked again
            item_id = items[0].id if len(items) == 1 else None
            self._error(result, variant.name, "backend", f"{type(error).__name__}: {error}", item_id)
            return None
        return rendered, responses

    def _store(
        self, variant: Variant, asked: tuple[list[Any], dict[str, list[Any]]], round_: int, result: SliceResult
    ) -> None:
        rendered, responses = asked
        scores = self._scores(variant.name, rendered, responses, result)
        records: list[ItemRecord] = []
        per_probe: dict[str, int] = defaultdict(int)
        for item, probe_kind, requests, start in rendered:
            answers = responses[probe_kind.request][start : start + len(requests)]
            try:
                outcome = probe_kind.outcomes(item, requests, answers, scores.get(item.id))
                rows = _finite_rows(outcome.rows())
            except (ValueError, TypeError) as error:
                self._error(result, variant.name, "probe", str(error), item.id)
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
                    rows,
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
        """Toxicity ratings for the texts of the probe kinds that need them, in one scorer call."""
        wanted = [(item, responses[probe_kind.request][start : start + len(reqs)])
                  for item, probe_kind, reqs, start in rendered if probe_kind.needs_scores]
        texts = [answer.text for _, answers in wanted for answer in answers]
        if not texts:
            return {}
        try:
            flat = list(self.scorer.rate(texts))
            if len(flat) != len(texts):
                raise ValueError(f"scorer returned {len(flat)} scores for {len(texts)} texts")
        except Exception as error:  # every text then counts as a scorer failure
            self._error(result, variant, "scorer", f"{type(error).__name__}: {error}")
            flat = [None] * len(texts)
        out: dict[str, list[float | None]] = {}
        position = 0
        for item, answers in wanted:
            out[item.id] = flat[position : position + len(answers)]
            position += len(answers)
        return out


def _chunks(
    requests: Sequence[Any], spans: Sequence[tuple[int, int]], size: Callable[[], int]
) -> Iterator[list[int]]:
    """Request indices in chunks of about ``size()``, longest items first, an item's requests together.

    ``size()`` is asked at the start of every chunk, so a chunk is small while live traffic
    is present and full once it has gone. Chunks keep a live request's wait to one chunk. Ordering the slice's items by length
    before chunking lets the backend's length-sorted batches pad little even though each
    sees one chunk; keeping an item's requests in one chunk lets it pack their shared prefix.
    """
    def length(span: tuple[int, int]) -> int:
        start, count = span
        return sum(_text_length(r) for r in requests[start : start + count])

    chunk: list[int] = []
    limit = size()
    for start, count in sorted(spans, key=length, reverse=True):
        if chunk and len(chunk) + count > limit:
            yield chunk
            chunk, limit = [], size()
        chunk.extend(range(start, start + count))
    if chunk:
        yield chunk


def _finite_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows, or ValueError naming those whose value is not a finite number."""
    def finite(value: Any) -> bool:
        try:
            return math.isfinite(float(value))
        except (TypeError, ValueError):
            return False

    bad = [f"{row['metric']} is {row['value']!r}" for row in rows if not finite(row["value"])]
    if bad:
        raise ValueError(f"{', '.join(bad)}: not a finite number")
    return rows


def _text_length(request: Any) -> int:
    """Characters the model reads: a cheap stand-in for tokens when ordering by length."""
    if isinstance(request, LoglikelihoodRequest):
        return len(request.context) + len(request.continuation)
    return len(request.prompt)
