"""Log-likelihoods computed independently of the backend: plain transformers, one text at a time."""

from __future__ import annotations

from pathlib import Path

import torch


class DirectScorer:
    """log P(text | beginning of sequence), unpadded and unbatched, with the model loaded once."""

    def __init__(self, model_dir: str | Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(
            model_dir, local_files_only=True, dtype=torch.float32
        ).eval()
        bos, eos = self.tokenizer.bos_token_id, self.tokenizer.eos_token_id
        self.start = bos if bos is not None else eos

    @torch.inference_mode()
    def logprob(self, text: str, context: str = "") -> tuple[float, int]:
        ctx = self.tokenizer(context, add_special_tokens=False).input_ids if context else [self.start]
        cont = self.tokenizer(text, add_special_tokens=False).input_ids
        ids = torch.tensor([ctx + cont])
        logits = self.model(ids).logits[0, len(ctx) - 1 : len(ctx) + len(cont) - 1]
        rows = torch.log_softmax(logits.double(), dim=-1)
        picked = rows.gather(-1, torch.tensor(cont)[:, None]).squeeze(-1)
        return float(picked.sum()), len(cont)
