"""The scorer contract: texts in, probability of "toxic" out, ``None`` where scoring failed.

A scorer never invents a number: a text it cannot score gets ``None`` (counted by the
probe kind as a ``scorer_error`` outcome), and the texts next to it in its batch are
still scored, because a failed batch is retried text by text.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from trustwatch.common.errors import UnavailableError

log = logging.getLogger(__name__)

BatchFn = Callable[[list[str]], Sequence[float]]
"""Scores one batch of texts; raises when the batch cannot be scored."""


class ScorerUnavailableError(UnavailableError):
    """The scorer's optional dependency is not installed."""


@runtime_checkable
class Scorer(Protocol):
    """Rates texts for toxicity (``rate``); ``describe()`` says which model did it, for the report.

    Not the ``Score`` RPC, which is a loglikelihood request (docs/glossary.md)."""

    name: str

    def describe(self) -> dict[str, Any]:
        """``name``, ``model`` (path), ``checkpoint`` (path or None), ``version``, ``label``, and what
        else identifies the model (fingerprints)."""
        ...

    def rate(self, texts: Sequence[str]) -> list[float | None]:
        """Probability of the toxic label for each text, in [0, 1]; ``None`` where it failed."""
        ...


def _checked(value: float) -> float | None:
    value = float(value)
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        return None
    return value


def score_in_batches(
    texts: Sequence[Any], batch_size: int, batch_fn: BatchFn, scorer: str
) -> list[float | None]:
    """Run ``batch_fn`` over ``texts`` in batches of ``batch_size``, keeping the input order.

    A text that is not a ``str`` scores ``None``. When a batch raises, each of its texts is
    scored alone, so that only the texts the model cannot take get ``None``. A value that is
    NaN or outside [0, 1] is a failure too, never clipped into range.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    results: list[float | None] = [None] * len(texts)
    valid = [i for i, text in enumerate(texts) if isinstance(text, str)]
    for i in set(range(len(texts))) - set(valid):
        log.warning("%s scorer: text %d is %s, not a str; scored None", scorer, i, type(texts[i]).__name__)
    for start in range(0, len(valid), batch_size):
        chunk = valid[start : start + batch_size]
        try:
            values = list(batch_fn([texts[i] for i in chunk]))
            if len(values) != len(chunk):
                raise RuntimeError(f"{len(values)} scores for {len(chunk)} texts")
            for i, value in zip(chunk, values, strict=True):
                results[i] = _checked(value)
        except Exception as error:  # retry one by one: only the texts that fail get None
            if len(chunk) == 1:
                log.warning("%s scorer failed on text %d: %s", scorer, chunk[0], error)
                continue
            for i in chunk:
                try:
                    [value] = batch_fn([texts[i]])
                    results[i] = _checked(value)
                except Exception as single_error:
                    log.warning("%s scorer failed on text %d: %s", scorer, i, single_error)
    return results
