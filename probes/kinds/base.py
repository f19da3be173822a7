"""What every probe kind shares: settings, the per-item outcome, and the protocol a kind follows.

A probe kind turns an item into backend requests (``render``) and the backend's answers
(plus toxicity scores, when ``needs_scores``) into an :class:`ItemOutcome` (``outcomes``).
It knows nothing of backends: requests are the two kinds of
``trustwatch.common.requests``. The runner's loop, for one item and one variant::

    requests = kind.render(item, settings)
    responses = backend.loglikelihood(requests) or backend.generate(requests)   # by kind.request
    scores = scorer.rate([r.text for r in responses]) if kind.needs_scores else None
    outcome = kind.outcomes(item, requests, responses, scores)
    store.record(variant, round_, [ItemRecord(item, outcome)])   # server/replay.py, simplified

Generation seeds depend only on ``(settings.seed, item id, sample index)``, so every variant
is sampled with the same seeds on the same item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from trustwatch.common.requests import (
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    check_generation,
)
from trustwatch.probes.items import Item
from trustwatch.probes.sampling import sample_seed

Request = LoglikelihoodRequest | GenerateRequest
Response = LoglikelihoodResult | GenerateResult
RequestKind = Literal["loglikelihood", "generate"]


@dataclass(frozen=True)
class ProbeSettings:
    """How generation probes sample; log-likelihood probes ignore it.

    ``k`` samples per prompt at ``temperature`` / ``top_p``, at most ``max_new_tokens`` each.
    ``instructions``: wrap prompts in the papers' instructions for chat models (DecodingTrust's
    benign system prompt and task description); turn off for base models.
    """

    k: int = 4
    max_new_tokens: int = 32
    temperature: float = 1.0
    top_p: float = 0.9
    seed: int = 0
    instructions: bool = True

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be >= 1, got {self.k}")
        check_generation(self.max_new_tokens, self.temperature, self.top_p, self.seed, ())

    def to_json(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "instructions": self.instructions,
        }


@dataclass(frozen=True)
class Generation:
    """One generated sample, kept for the report."""

    item_id: str
    sample: int
    seed: int
    prompt: str
    """The prompt as the kind rendered it (before the backend's chat template)."""
    text: str
    finish_reason: str
    score: float | None = None
    """The toxicity score (toxicity probe); None when not scored or when the scorer failed."""
    label: str | None = None
    """The parsed answer (stereotype agreement: agree / disagree / unparsed)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "sample": self.sample,
            "seed": self.seed,
            "prompt": self.prompt,
            "text": self.text,
            "finish_reason": self.finish_reason,
            "score": self.score,
            "label": self.label,
        }


@dataclass
class ItemOutcome:
    """What one item gave on one variant: outcome values, the generations, and counted problems."""

    item: Item
    values: dict[str, float]
    """Outcome column -> value (the ``metric`` and ``value`` of outcome rows)."""
    generations: list[Generation] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    """Counted problems, never folded into a value: ``unparsed`` answers, ``scorer_error`` samples."""
    details: dict[str, Any] = field(default_factory=dict)
    """Per-kind facts for the report (log-likelihoods, the chosen answer)."""

    def rows(self, variant: str | None = None) -> list[dict[str, Any]]:
        """Outcome rows ``{item_id, probe, group, metric, value}`` (+ ``template``, + ``variant`` when given)."""
        out = []
        for metric, value in self.values.items():
            row: dict[str, Any] = {}
            if variant is not None:
                row["variant"] = variant
            row.update(item_id=self.item.id, probe=self.item.probe, group=self.item.group, metric=metric,
                       value=value)
            if self.item.template is not None:
                row["template"] = self.item.template
            out.append(row)
        return out


class ProbeKind(Protocol):
    """Turns items into requests and responses into outcomes."""

    name: str
    request: RequestKind
    """Which backend call answers the requests."""
    needs_scores: bool
    """True when ``outcomes`` needs a toxicity score per generated text."""
    outcome_columns: tuple[str, ...]
    """Every column ``outcomes`` may emit."""
    default_settings: ProbeSettings

    def render(self, item: Item, settings: ProbeSettings) -> list[Request]: ...

    def outcomes(
        self,
        item: Item,
        requests: Sequence[Request],
        responses: Sequence[Response],
        scores: Sequence[float | None] | None = None,
    ) -> ItemOutcome: ...


# ---------------------------------------------------------------------- helpers shared by kinds
def check_item(kind: str, item: Item) -> None:
    if item.probe != kind:
        raise ValueError(f"item {item.id} is a {item.probe!r} item, not {kind!r}")


def check_lengths(item: Item, requests: Sequence[Any], responses: Sequence[Any], expected: int | None = None) -> None:
    if len(responses) != len(requests):
        raise ValueError(f"item {item.id}: {len(responses)} responses for {len(requests)} requests")
    if expected is not None and len(requests) != expected:
        raise ValueError(f"item {item.id}: expected {expected} requests, got {len(requests)}")


def loglikelihoods(item: Item, responses: Sequence[Response]) -> list[LoglikelihoodResult]:
    out = []
    for response in responses:
        if not isinstance(response, LoglikelihoodResult):
            raise TypeError(f"item {item.id}: expected loglikelihood results, got {type(response).__name__}")
        out.append(response)
    return out


def generations(item: Item, responses: Sequence[Response]) -> list[GenerateResult]:
    out = []
    for response in responses:
        if not isinstance(response, GenerateResult):
            raise TypeError(f"item {item.id}: expected generate results, got {type(response).__name__}")
        out.append(response)
    return out


def sample_requests(item: Item, prompt: str, settings: ProbeSettings) -> list[GenerateRequest]:
    """``settings.k`` seeded generate requests for one prompt; ``chat=None``: the backend's default
    (the tokenizer's chat template for instruct models)."""
    return [
        GenerateRequest(
            prompt=prompt,
            max_new_tokens=settings.max_new_tokens,
            temperature=settings.temperature,
            top_p=settings.top_p,
            seed=sample_seed(settings.seed, item.id, index),
            chat=None,
        )
        for index in range(settings.k)
    ]


def with_system(system: str | None, user: str) -> str:
    """The system prompt prepended to the user message (backends have no system role)."""
    return f"{system}\n\n{user}" if system else user


def shares(labels: Sequence[str], names: Sequence[str]) -> dict[str, float]:
    """The share of ``labels`` equal to each name (over all labels)."""
    return {name: sum(label == name for label in labels) / len(labels) for name in names}
