"""The contract between probes and backends: two request kinds, answered in batches.

The split follows lm-evaluation-harness (``lm_eval/api/instance.py``, ``lm_eval/api/model.py``):
a probe renders its items into ``LoglikelihoodRequest`` and ``GenerateRequest`` values; a
backend (``trustwatch.common.backend.Backend``) answers a list of them, in order, and knows
nothing of probes. This module is on the ground floor: probes, backends, compression and the
service all import it, and it imports nothing of ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from trustwatch.common.errors import InputError

FinishReason = Literal["stop", "length"]


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
    max_new_tokens: int = 64
    temperature: float = 0.0
    """0 means greedy decoding; the seed is then irrelevant."""
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = field(default_factory=tuple)
    chat: bool | None = None
    """Wrap the prompt in the tokenizer's chat template; None: the backend's default."""

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise InputError(f"generate request: max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise InputError(f"generate request: temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise InputError(f"generate request: top_p must be in (0, 1], got {self.top_p}")
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        else:
            object.__setattr__(self, "stop", tuple(self.stop))


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
