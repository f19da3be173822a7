"""Which layers a method touches, loading and saving models, and measuring sparsity.

Methods act on the ``nn.Linear`` layers inside the decoder blocks (attention q/k/v/o and
MLP gate/up/down for a Llama). Embeddings and the output head stay dense unless
``include_head`` asks for the head; with tied embeddings (SmolLM2) the head *is* the
embedding matrix, so including it changes both, and the tie is kept because weights are
changed in place on the shared parameter.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn


def decoder_blocks(model: nn.Module) -> nn.ModuleList:
    """The model's list of decoder blocks: the ``ModuleList`` as long as ``num_hidden_layers``."""
    count = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) == count:
            return module
    raise ValueError(f"{type(model).__name__}: found no list of {count} decoder blocks to compress")


def target_linears(model: nn.Module, include_head: bool = False) -> dict[str, nn.Linear]:
    """``{qualified name: layer}`` for every Linear in the decoder blocks, plus the head if asked."""
    blocks = decoder_blocks(model)
    block_ids = {id(b) for b in blocks}
    out: dict[str, nn.Linear] = {}
    inside: set[str] = set()
    for name, module in model.named_modules():
        if id(module) in block_ids:
            inside.add(name + ".")
        elif isinstance(module, nn.Linear) and any(name.startswith(prefix) for prefix in inside):
            out[name] = module
    if include_head:
        head = model.get_output_embeddings()
        if not isinstance(head, nn.Linear):
            raise ValueError(f"{type(model).__name__} has no Linear output head to include")
        out[_name_of(model, head)] = head
    return out


def _name_of(model: nn.Module, target: nn.Module) -> str:
    return next(name for name, module in model.named_modules() if module is target)


def iterate(items: dict[str, nn.Linear], what: str, progress: bool) -> Iterator[tuple[str, nn.Linear]]:
    """The layers in order, under a tqdm bar when ``progress``."""
    from tqdm.auto import tqdm

    yield from tqdm(items.items(), desc=what, unit="layer", disable=not progress)


def meta_model(path: Path) -> nn.Module:
    """The model's architecture from ``config.json`` on the meta device: shapes, no weights."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(path, local_files_only=True)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def load_model(path: Path, progress: bool = False) -> tuple[nn.Module, Any]:
    """The float32 model and its tokenizer from a local folder (compression runs in float32)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if not progress:
        hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=torch.float32)
    finally:
        hf_logging.enable_progress_bar()
    model.eval()
    return model, tokenizer


def save_model(model: nn.Module, tokenizer: Any, folder: Path, progress: bool = False) -> None:
    """A normal Hugging Face folder (config, safetensors, tokenizer files) that any backend loads."""
    from transformers.utils import logging as hf_logging

    if not progress:
        hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
    finally:
        hf_logging.enable_progress_bar()


def sparsity_report(layers: dict[str, nn.Linear]) -> dict[str, Any]:
    """Measured fraction of exact zeros per layer and over all of them (weights only)."""
    per_layer: dict[str, float] = {}
    zeros = total = 0
    for name, layer in layers.items():
        weight = layer.weight.detach()
        z = int((weight == 0).sum())
        per_layer[name] = z / weight.numel()
        zeros += z
        total += weight.numel()
    return {"overall": zeros / total if total else 0.0, "zeros": zeros, "weights": total, "layers": per_layer}
