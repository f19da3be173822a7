"""Wanda: pruning by weights and activations.

Sun et al. 2023, "A Simple and Effective Pruning Approach for Large Language Models",
Sec. 3: the score of weight ``W_ij`` is ``|W_ij| * ||X_j||_2``, where ``X_j`` is input
feature j over all calibration tokens, and weights are compared *per output* (within each
row i): unstructured Wanda removes the ``sparsity`` fraction of lowest scores in every
row; N:M Wanda removes the M - N lowest in every block of M inputs of a row
(``nm_mask``). No weight update follows.

Input norms are gathered block by block (``compress_block_by_block``): each block's
Linears see the outputs of the already-pruned blocks before it, as the paper's code does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from trustwatch.compress.activations import compress_block_by_block, squared_norms
from trustwatch.compress.layers import decoder_blocks, target_linears
from trustwatch.compress.magnitude import lowest_mask
from trustwatch.compress.nm import nm_mask


def wanda_mask(
    weight: torch.Tensor, input_norm: torch.Tensor, sparsity: float | None, pattern: tuple[int, int] | None
) -> torch.Tensor:
    """Mask of the weights Wanda removes: lowest ``|W_ij| * ||X_j||`` per row (or per N:M block)."""
    scores = weight.detach().abs().float() * input_norm.float()[None, :]
    if pattern is not None:
        return nm_mask(scores, *pattern)
    if sparsity is None:
        raise ValueError("wanda needs a sparsity or an N:M pattern")
    return lowest_mask(scores, round(sparsity * weight.shape[1]))


@torch.no_grad()
def prune_wanda(
    model: nn.Module,
    batches: Sequence[torch.Tensor],
    sparsity: float | None = None,
    pattern: tuple[int, int] | None = None,
    include_head: bool = False,
    progress: bool = False,
) -> nn.Module:
    """Wanda-prune every target Linear of ``model`` in place, from calibration ``batches``."""
    label = f"wanda {pattern[0]}:{pattern[1]}" if pattern else f"wanda {sparsity:.0%}"

    def prune(layer: nn.Linear, sums: torch.Tensor) -> None:
        layer.weight.masked_fill_(wanda_mask(layer.weight, sums.sqrt(), sparsity, pattern), 0.0)

    compress_block_by_block(
        model, decoder_blocks(model), target_linears(model, include_head), batches, squared_norms, prune, label,
        progress,
    )
    return model
