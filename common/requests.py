"""The contract between probes and backends: two request kinds, answered in batches.

The split follows lm-evaluation-harness (``lm_eval/api/instance.py``, ``lm_eval/api/model.py``):
a probe renders its items into ``LoglikelihoodRequest`` and ``GenerateRequest`` values; a
backend (``trustwatch.common.backend.Backend``) answers a list of them, in order, and knows
nothing of probes. This module is on the ground floor: probes, backends, compression and the
service all import it, and it imports nothing of ours.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from trustwatch.common.errors import InputError

FinishReason = Literal["stop", "length"]

MIN_TEMPERATURE = 1e-3
"""The lowest sampling temperature above 0 (greedy); below it ``logits / temperature`` overflows."""
MAX_TEMPERATURE = 100.0
"""The highest sampling temperature; far above it sampling is uniform over the vocabulary anyway."""
MIN_TOP_P = 1e-6
"""The lowest nucleus mass; below it the nucleus is the most probable token (as at 1e-6)."""
MAX_SEED = 2**64 - 1


def check_generation(max_new_tokens: int, temperature: float, top_p: float, seed: int, stop: Sequence[str]) -> None:
    """Refuse generation settings a backend cannot honour, naming the field (every entry point: the
    service, the CLI, probe settings, comes through here, so that a bad value never reaches a batch).

    ``temperature`` is 0 (greedy) or finite in [``MIN_TEMPERATURE``, ``MAX_TEMPERATURE``]; ``top_p``
    is finite in [``MIN_TOP_P``, 1]; a stop string is never empty (it would match at once).
    """
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise InputError(f"max_new_tokens must be >= 1, got {max_new_tokens!r}")
    if not (temperature == 0 or (math.isfinite(temperature) and MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE)):
        raise InputError(
            f"temperature must be 0 (greedy) or between {MIN_TEMPERATURE:g} and {MAX_TEMPERATURE:g}, got {temperature!r}"
        )
    if not (math.isfinite(top_p) and MIN_TOP_P <= top_p <= 1):
        raise InputError(f"top_p must be between {MIN_TOP_P:g} and 1, got {top_p!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise InputError(f"seed must be an integer between 0 and 2**64 - 1, got {seed!r}")
    for i, s in enumerate(stop):
        if not isinstance(s, str) or not s:
            raise InputError(f"stop[{i}] is empty: a stop string must have at least one character")


TRANSFORMERS_SAMPLER = "token-id race"
"""How the transformers backend turns a request's seed into tokens (``_token_chooser``): one
uniform number per token id per step, ``argmax p / -log u`` over the nucleus. Samples drawn
under another scheme are not coupled with these, so it is part of a generation probe's producer
(``server/producers.py``): a store's samples from before start afresh instead of being paired
with new ones. Change it whenever the draw changes."""

@dataclass(frozen=True)
class LoglikelihoodRequest:
    """Score ``continuation`` given ``context``: log P(continuation | context)."""

    context: str
    continuation: str

    def __post_init__(self) -> None:
        if not self.continuation:
            raise InputError("loglikelihood request: continuation is empty (nothing to score)")


@dataclass(frozen=True)
class LoglikelihoodResult:
    logprob: float
    """Sum of the log-probabilities of the continuation's tokens given the context."""
    tokens: int
    """How many tokens the continuation took."""
    is_greedy: bool
    """True when greedy decoding from the context produces exactly these tokens."""


@dataclass(frozen=True)
class GenerateRequest:
    prompt: str
    """May be empty: generation is then conditioned on the model's BOS token (every backend)."""
    max_new_tokens: int = 64
    temperature: float = 0.0
    """0 means greedy decoding; the seed is then irrelevant."""
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = field(default_factory=tuple)
    chat: bool | None = None
    """Wrap the prompt in the tokenizer's chat template; None: the backend's default."""

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        else:
            object.__setattr__(self, "stop", tuple(self.stop))
        if not isinstance(self.prompt, str):
            raise InputError(f"generate request: prompt must be text, got {type(self.prompt).__name__}")
        try:
            check_generation(self.max_new_tokens, self.temperature, self.top_p, self.seed, self.stop)
        except InputError as error:
            raise InputError(f"generate request: {error}") from None


@dataclass(frozen=True)
class GenerateResult:
    text: str
    """The generated text, without the prompt, cut before a stop string."""
    tokens: int
    """How many new tokens were generated (up to and including the one that completed a stop)."""
    finish_reason: FinishReason
    """``stop``: end-of-sequence token or a stop string; ``length``: max_new_tokens reached."""


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` before the earliest stop string; say whether one was found."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
