"""Round-to-nearest (RTN) weight quantization, group-wise, stored dequantized.

RTN is the data-free baseline of "Decoding Compressed Trust" (Hong et al. 2024, Sec. 3,
"quantization" setting, compared with GPTQ and AWQ): each weight is rounded to the
nearest level of a uniform grid fitted to its group. The grid is the one GPTQ's quantizer
uses (Frantar et al. 2023, Sec. 2, min-max uniform quantization), with ``maxq = 2**bits - 1``:

- asymmetric: ``scale = (max - min) / maxq``, ``zero = round(-min / scale)``,
  ``q = clamp(round(w / scale) + zero, 0, maxq)``;
- symmetric: the range is ``[-a, a]`` with ``a = max|w|``, ``scale = 2a / maxq``,
  ``zero = (maxq + 1) / 2``;

and the stored weight is ``scale * (q - zero)``, so every group holds at most
``2**bits`` distinct values. Groups are ``group_size`` consecutive weights along a row's
input dimension (``-1``: the whole row). Weights are written back dequantized in float32,
so the folder is a normal one that every backend loads.
"""

from __future__ import annotations

import torch
from torch import nn

from trustwatch.compress.layers import iterate, target_linears


def rtn_dequantized(weight: torch.Tensor, bits: int, group_size: int, sym: bool) -> torch.Tensor:
    """``weight`` (out x in) rounded to its group grid and mapped back to floats (same shape, dtype)."""
    rows, cols = weight.shape
    size = cols if group_size == -1 else group_size
    if cols % size:
        raise ValueError(f"group size {group_size} does not divide the input width {cols}")
    groups = weight.detach().float().reshape(rows, cols // size, size)
    maxq = 2**bits - 1
    low = groups.amin(-1, keepdim=True).clamp(max=0)
    high = groups.amax(-1, keepdim=True).clamp(min=0)
    if sym:
        high = torch.maximum(-low, high)
        low = -high
    scale = ((high - low) / maxq).clamp(min=torch.finfo(torch.float32).tiny)
    zero = torch.full_like(scale, (maxq + 1) / 2) if sym else torch.round(-low / scale)
    q = torch.clamp(torch.round(groups / scale) + zero, 0, maxq)
    return (scale * (q - zero)).reshape(rows, cols).to(weight.dtype)


@torch.no_grad()
def quantize_rtn(
    model: nn.Module,
    bits: int,
    group_size: int,
    sym: bool = True,
    include_head: bool = False,
    progress: bool = False,
) -> nn.Module:
    """Quantize every target Linear of ``model`` in place (RTN, dequantized); returns the model."""
    for _, layer in iterate(target_linears(model, include_head), f"rtn {bits}-bit", progress):
        layer.weight.copy_(rtn_dequantized(layer.weight, bits, group_size, sym))
    return model
