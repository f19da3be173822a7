"""Semi-structured N:M pruning by magnitude.

Mishra et al. 2021, "Accelerating Sparse Deep Neural Networks" (NVIDIA Ampere sparse
tensor cores), Sec. 2-3: in every block of M consecutive weights along a row's input
dimension, at most N stay non-zero (2:4 keeps two of every four); the M - N with the
smallest score are zeroed. The score is ``|w|`` here; Wanda passes its own score
(``nm_mask`` is shared). Every block of M thus holds at least M - N zeros (N for 2:4 and
4:8), and each pruned layer is exactly (M - N) / M sparse.
"""

from __future__ import annotations

import torch
from torch import nn

from trustwatch.compress.layers import iterate, target_linears
from trustwatch.compress.magnitude import lowest_mask


def nm_mask(scores: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """Mask (same shape as ``scores``, out x in) of the M - N lowest scores in each block of M inputs."""
    rows, cols = scores.shape
    if cols % m:
        raise ValueError(f"N:M block width {m} does not divide the input width {cols}")
    return lowest_mask(scores.reshape(rows, cols // m, m), m - n).reshape(rows, cols)


@torch.no_grad()
def prune_nm(
    model: nn.Module, n: int, m: int, include_head: bool = False, progress: bool = False
) -> nn.Module:
    """N:M-prune every target Linear of ``model`` in place by weight magnitude; returns the model."""
    for _, layer in iterate(target_linears(model, include_head), f"nm {n}:{m}", progress):
        layer.weight.masked_fill_(nm_mask(layer.weight.detach().abs(), n, m), 0.0)
    return model
