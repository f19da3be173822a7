"""One batched forward pass over a transformers sequence classifier, for the torch scorers.

Texts are sorted by length so that a batch pads little, truncated to the model's
length limit (as Detoxify's ``predict`` does: ``truncation=True``), and the chosen
label's probability is read after a sigmoid or a softmax over the logits.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch

Activation = Literal["sigmoid", "softmax"]


def activation_for(config: Any) -> Activation:
    """The transformers text-classification pipeline's rule (``TextClassificationPipeline.postprocess``):
    sigmoid for multi-label heads or a single logit, softmax over the labels otherwise."""
    if getattr(config, "problem_type", None) == "multi_label_classification" or config.num_labels == 1:
        return "sigmoid"
    return "softmax"


def length_limit(model: Any, tokenizer: Any, max_length: int) -> int:
    """The smallest of the asked ``max_length``, the tokenizer's and the position table's limits."""
    limits = [max_length, int(min(tokenizer.model_max_length, 1 << 30))]
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        limits.append(positions)
    return min(limits)


class ClassifierRunner:
    """Callable: a batch of texts -> probability of one label column, per text."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        column: int,
        activation: Activation,
        device: torch.device,
        max_length: int,
    ) -> None:
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        if tokenizer.pad_token is None and tokenizer.eos_token is not None:
            # Decoder-only classifiers ship no pad token; their head finds the last non-pad token.
            tokenizer.pad_token = tokenizer.eos_token
            if getattr(model.config, "pad_token_id", None) is None:
                model.config.pad_token_id = tokenizer.pad_token_id
        self.column = column
        self.activation = activation
        self.device = device
        self.max_length = length_limit(model, tokenizer, max_length)

    @torch.inference_mode()
    def __call__(self, texts: list[str]) -> list[float]:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        inputs = self.tokenizer(
            [texts[i] for i in order],
            return_tensors="pt",
            truncation=True,
            padding=True,
            max_length=self.max_length,
        ).to(self.device)
        # A text that tokenizes to nothing (no special tokens, empty string) is one the model
        # cannot take: NaN here, None to the caller, never the score of an all-padding row.
        empty = [True] * len(texts)
        column = [math.nan] * len(texts)
        if inputs["input_ids"].shape[1] > 0:
            empty = (inputs["attention_mask"].sum(dim=1) == 0).tolist()
            logits = self.model(**inputs).logits.float()
            probs = torch.sigmoid(logits) if self.activation == "sigmoid" else torch.softmax(logits, dim=-1)
            column = probs[:, self.column].cpu().tolist()
        column = [math.nan if blank else value for blank, value in zip(empty, column, strict=True)]
        out = [math.nan] * len(texts)
        for position, i in enumerate(order):
            out[i] = column[position]
        return out
