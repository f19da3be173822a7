"""Tokenization rules both backends share, so that they score and prompt the same token sequences."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trustwatch.common.requests import GenerateRequest, LoglikelihoodRequest


def pair_tokens(
    encode: Callable[[str], list[int]], request: LoglikelihoodRequest, prefix_id: int
) -> tuple[list[int], int]:
    """Token ids of context + continuation, and how many of the last ones are the continuation.

    Whitespace that ends the context belongs to the continuation's first token in BPE
    vocabularies (" world"), so it is moved across before tokenizing; the continuation's
    tokens are then what the whole text adds to the context's tokens. Where the tokenizer
    merges across the boundary, the two encodings are joined instead. An empty context is
    conditioned on ``prefix_id`` (the BOS token, else EOS), as lm-evaluation-harness does.
    """
    context, continuation = request.context, request.continuation
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = encode(context + continuation)
    context_ids = encode(context) if context else []
    if whole[: len(context_ids)] != context_ids:
        whole = context_ids + encode(continuation)
    n_targets = len(whole) - len(context_ids)
    if n_targets < 1:
        raise ValueError(f"loglikelihood request: continuation {request.continuation!r} has no tokens")
    return ([prefix_id] if not context_ids else []) + whole, n_targets


def render_prompt(tokenizer: Any, request: GenerateRequest, chat_default: bool, model_name: str) -> str:
    """The prompt as the model sees it: wrapped in the tokenizer's chat template when asked."""
    chat = chat_default if request.chat is None else request.chat
    if not chat:
        return request.prompt
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"generate request asks for the chat template, but {model_name!r} has none")
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": request.prompt}], add_generation_prompt=True, tokenize=False
    )
