"""SparseGPT: one-shot pruning with second-order weight updates.

Frantar & Alistarh 2023, "SparseGPT: Massive Language Models Can Be Accurately Pruned in
One-Shot", Sec. 3 and Algorithm 1: for each layer with Hessian ``H = X^T X`` of its
calibration inputs (the same layer-wise Hessian as GPTQ, Frantar et al. 2023, Sec. 3), the
columns are processed left to right in blocks of ``BLOCK`` columns; within a block the
mask is chosen adaptively by the score ``w^2 / [H^-1]_jj^2`` (lowest ``sparsity``
fraction of the block, or the M - N lowest in each group of M for N:M), and each pruned
weight's error is spread over the not-yet-processed columns through the Cholesky factor
of ``H^-1``. Dampening adds 1% of the mean diagonal to H (the paper's default).

Hessians are gathered block by block (``compress_block_by_block`` with ``gram``): each
block's Linears see the outputs of the already-pruned blocks before it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from trustwatch.compress.activations import compress_block_by_block, gram
from trustwatch.compress.layers import decoder_blocks, target_linears
from trustwatch.compress.magnitude import lowest_mask
from trustwatch.compress.nm import nm_mask

BLOCK = 128
DAMP = 0.01


def sparsegpt_weight(
    weight: torch.Tensor, hessian: torch.Tensor, sparsity: float | None, pattern: tuple[int, int] | None
) -> torch.Tensor:
    """The pruned and updated weight (out x in) of Algorithm 1, from the layer's ``X^T X``."""
    w = weight.detach().float().clone()
    h = hessian.float().clone()
    columns = w.shape[1]
    dead = torch.diag(h) == 0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    h += DAMP * torch.diag(h).mean() * torch.eye(columns)
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    block = BLOCK if pattern is None else max(BLOCK // pattern[1], 1) * pattern[1]
    for start in range(0, columns, block):
        end = min(start + block, columns)
        w1 = w[:, start:end].clone()
        hinv1 = hinv[start:end, start:end]
        errors = torch.zeros_like(w1)
        scores = w1**2 / torch.diag(hinv1)[None, :] ** 2
        if pattern is not None:
            mask = torch.zeros_like(w1, dtype=torch.bool)
        else:
            assert sparsity is not None
            mask = lowest_mask(scores.flatten(), round(sparsity * scores.numel())).view_as(scores)
        for i in range(end - start):
            if pattern is not None and i % pattern[1] == 0:
                group = w1[:, i : i + pattern[1]] ** 2 / torch.diag(hinv1)[i : i + pattern[1]][None, :] ** 2
                mask[:, i : i + pattern[1]] = nm_mask(group, *pattern)
            column = w1[:, i]
            kept = column.masked_fill(mask[:, i], 0.0)
            error = (column - kept) / hinv1[i, i]
            w1[:, i:] -= error[:, None] @ hinv1[i, i:][None, :]
            w1[:, i] = kept
            errors[:, i] = error
        w[:, start:end] = w1
        w[:, end:] -= errors @ hinv[start:end, end:]
    return w.to(weight.dtype)


@torch.no_grad()
def prune_sparsegpt(
    model: nn.Module,
    batches: Sequence[torch.Tensor],
    sparsity: float | None = None,
    pattern: tuple[int, int] | None = None,
    progress: bool = False,
) -> nn.Module:
    """SparseGPT-prune every target Linear of ``model`` in place, from calibration ``batches``."""
    label = f"sparsegpt {pattern[0]}:{pattern[1]}" if pattern else f"sparsegpt {sparsity:.0%}"

    def prune(layer: nn.Linear, hessian: torch.Tensor) -> None:
        layer.weight.copy_(sparsegpt_weight(layer.weight, hessian, sparsity, pattern))

    compress_block_by_block(model, decoder_blocks(model), target_linears(model), batches, gram, prune, label, progress)
    return model
