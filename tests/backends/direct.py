"""An independent log-likelihood computation with plain transformers, one request at a time."""

from __future__ import annotations

from pathlib import Path

import torch


def direct_logprob(model_dir: Path, context: str, continuation: str) -> tuple[float, int, bool]:
    """Sum of log P(continuation tokens | context) from one unpadded forward pass."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32).eval()
    ctx = tokenizer(context, add_special_tokens=False).input_ids if context else [tokenizer.bos_token_id]
    cont = tokenizer(continuation, add_special_tokens=False).input_ids
    ids = torch.tensor([ctx + cont])
    with torch.inference_mode():
        logprobs = torch.log_softmax(model(ids).logits[0].float(), dim=-1)
    rows = logprobs[len(ctx) - 1 : len(ctx) + len(cont) - 1]
    target = torch.tensor(cont)
    picked = rows.gather(-1, target[:, None]).squeeze(-1)
    return float(picked.sum()), len(cont), bool((rows.argmax(-1) == target).all())
