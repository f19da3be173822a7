"""``profanity``: alt-profanity-check, the embedded default scorer.

A linear SVM over a bag of words (Zhou 2019, ``profanity-check``; maintained as
``alt-profanity-check``), shipped with its model inside the package: nothing to fetch.
It measures profanity and offensive wording, a narrower notion than the Perspective
API toxicity that RealToxicityPrompts used; the report names the scorer for that reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from typing import Any

from trustwatch.monitors.scorers.base import score_in_batches


class ProfanityScorer:
    """Probability of the "offensive" class from alt-profanity-check."""

    name = "profanity"

    def __init__(self, *, batch_size: int = 256) -> None:
        from profanity_check import predict_prob

        self._predict_prob = predict_prob
        self.batch_size = batch_size

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": "alt-profanity-check (embedded)",
            "checkpoint": None,
            "version": metadata.version("alt-profanity-check"),
            "label": "offensive",
        }

    def _batch(self, texts: list[str]) -> list[float]:
        return [float(p) for p in self._predict_prob(texts)]

    def rate(self, texts: Sequence[str]) -> list[float | None]:
        return score_in_batches(texts, self.batch_size, self._batch, self.name)
