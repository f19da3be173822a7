"""Live requests as the service accepts them: the defaults of an unset field and the limits
(prompt length, new tokens, batch size). A refused request raises ``ValueError`` with the
message the client reads; gRPC answers it with INVALID_ARGUMENT."""

from __future__ import annotations

from collections.abc import Sequence

from trustwatch.common.requests import GenerateRequest, LoglikelihoodRequest
from trustwatch.server.service_config import Limits

DEFAULT_MAX_NEW_TOKENS = 64
"""New tokens of a request that names none (capped by the limit)."""


def check_batch(limits: Limits, n: int) -> None:
    if n == 0:
        raise ValueError("the batch is empty")
    if n > limits.max_batch:
        raise ValueError(f"batch of {n} requests is larger than the limit of {limits.max_batch}")


def check_text(limits: Limits, what: str, text: str) -> None:
    if len(text) > limits.max_prompt_chars:
        raise ValueError(f"{what} has {len(text)} characters, more than the limit of {limits.max_prompt_chars}")


def generate_requests(
    limits: Limits,
    prompts: Sequence[str],
    *,
    max_new_tokens: int = 0,
    temperature: float = 0.0,
    top_p: float = 0.0,
    seed: int = 0,
    stop: Sequence[str] = (),
    chat: bool | None = None,
) -> list[GenerateRequest]:
    """One request per prompt; 0 for ``max_new_tokens`` or ``top_p`` means unset (the defaults)."""
    max_new = max_new_tokens or min(DEFAULT_MAX_NEW_TOKENS, limits.max_new_tokens)
    if max_new > limits.max_new_tokens:
        raise ValueError(f"max_new_tokens {max_new} is over the limit of {limits.max_new_tokens}")
    for prompt in prompts:
        check_text(limits, "prompt", prompt)
    return [GenerateRequest(p, max_new, temperature, top_p or 1.0, seed, tuple(stop), chat) for p in prompts]


def loglikelihood_requests(limits: Limits, pairs: Sequence[tuple[str, str]]) -> list[LoglikelihoodRequest]:
    """One loglikelihood request per (context, continuation)."""
    for context, continuation in pairs:
        check_text(limits, "context + continuation", context + continuation)
    return [LoglikelihoodRequest(c, x) for c, x in pairs]
