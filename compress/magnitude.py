"""Unstructured magnitude pruning to a target sparsity, layer by layer.

Han et al. 2015, "Learning both Weights and Connections for Efficient Neural Networks",
Sec. 3: connections whose weights have the smallest magnitude are removed, with the
threshold chosen per layer. Here each target Linear loses exactly
``round(sparsity * numel)`` weights, those with the smallest ``|w|`` (ties broken by
position, so the count is exact); there is no retraining step, as in the one-shot
magnitude baseline of Hong et al. 2024 ("Decoding Compressed Trust", Sec. 3) and of
Sun et al. 2023 (Wanda, Sec. 4).
"""

from __future__ import annotations

import torch
from torch import nn

from trustwatch.compress.layers import iterate, target_linears


def lowest_mask(scores: torch.Tensor, count: int) -> torch.Tensor:
    """A boolean mask (same shape) marking exactly ``count`` entries with the lowest scores, per last dim.

    ``scores`` is ``[..., n]``; ``count`` entries of each slice along the last dimension
    are marked (use a flattened tensor for a whole-layer choice).
    """
    mask = torch.zeros_like(scores, dtype=torch.bool)
    if count > 0:
        order = torch.argsort(scores, dim=-1, stable=True)[..., :count]
        mask.scatter_(-1, order, True)
    return mask


@torch.no_grad()
def prune_magnitude(
    model: nn.Module, sparsity: float, include_head: bool = False, progress: bool = False
) -> nn.Module:
    """Zero the ``sparsity`` fraction of smallest-magnitude weights of every target Linear, in place."""
    for _, layer in iterate(target_linears(model, include_head), f"magnitude {sparsity:.0%}", progress):
        weight = layer.weight
        flat = weight.detach().abs().flatten()
        mask = lowest_mask(flat, round(sparsity * flat.numel())).view_as(weight)
        weight.masked_fill_(mask, 0.0)
    return model
