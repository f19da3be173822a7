"""Toxicity scorers: ``profanity`` (embedded default), ``detoxify`` and ``hf-classifier`` (local weights).

``create_scorer(name, **options)`` builds one; every scorer follows ``Scorer``: ``name``,
``describe()`` and ``score(texts) -> list[float | None]``.
"""

from __future__ import annotations

import inspect
from typing import Any

from trustwatch.monitors.scorers.base import Scorer, ScorerUnavailableError, score_in_batches

DEFAULT_SCORER = "profanity"
SCORERS = ("profanity", "detoxify", "hf-classifier")

__all__ = [
    "DEFAULT_SCORER",
    "SCORERS",
    "Scorer",
    "ScorerUnavailableError",
    "available_scorers",
    "create_scorer",
    "score_in_batches",
]


def _scorer_class(name: str) -> type:
    if name == "profanity":
        from trustwatch.monitors.scorers.profanity import ProfanityScorer

        return ProfanityScorer
    if name == "detoxify":
        from trustwatch.monitors.scorers.detoxify_scorer import DetoxifyScorer

        return DetoxifyScorer
    if name == "hf-classifier":
        from trustwatch.monitors.scorers.hf_classifier import HFClassifierScorer

        return HFClassifierScorer
    raise ValueError(f"unknown scorer {name!r}; known scorers: {', '.join(SCORERS)}")


def scorer_options(name: str) -> dict[str, Any]:
    """The options a scorer takes: name -> default (``inspect.Parameter.empty`` when required)."""
    parameters = inspect.signature(_scorer_class(name).__init__).parameters
    return {key: p.default for key, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}


def create_scorer(name: str, **options: Any) -> Scorer:
    """Build the scorer ``name`` with ``options``.

    Raises ValueError for an unknown name, a missing required option or an option the
    scorer does not take (naming them), ScorerUnavailableError when its package is absent.
    """
    accepted = scorer_options(name)
    missing = [
        key for key, default in accepted.items() if default is inspect.Parameter.empty and key not in options
    ]
    unknown = sorted(set(options) - set(accepted))
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"missing option(s): {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown option(s): {', '.join(unknown)}")
        raise ValueError(f"scorer {name!r}: {'; '.join(problems)} (it takes: {', '.join(accepted)})")
    return _scorer_class(name)(**options)


def available_scorers() -> dict[str, dict[str, Any]]:
    """Which scorers can run here, without loading any model."""
    from trustwatch.monitors.scorers.detoxify_scorer import detoxify_available

    has_detoxify = detoxify_available()
    return {
        "profanity": {"available": True, "options": {}},
        "detoxify": {
            "available": has_detoxify,
            "reason": None if has_detoxify else "detoxify is not installed (extra: detoxify)",
            "options": {"checkpoint": "local .ckpt", "config_dir": "local config + tokenizer folder"},
        },
        "hf-classifier": {
            "available": True,
            "options": {"path": "local model folder", "label": "label name"},
        },
    }
