"""Statistics of each Linear's inputs over calibration tokens, gathered with forward hooks.

The hooks sit on the *dense* model and one forward pass per calibration window fills the
statistics of every target layer at once. (Wanda's reference code instead runs the
calibration block by block through the already-pruned earlier blocks; hooks on the dense
model are simpler and the difference is small at the sparsities studied here.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

Accumulate = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]
"""``(inputs [tokens, in], running or None) -> new running statistic``."""


def squared_norms(x: torch.Tensor, running: torch.Tensor | None) -> torch.Tensor:
    """Running sum over tokens of ``x_j ** 2`` per input feature j."""
    total = (x * x).sum(0)
    return total if running is None else running + total


def gram(x: torch.Tensor, running: torch.Tensor | None) -> torch.Tensor:
    """Running ``X^T X`` (in x in) over tokens: the layer-wise Hessian of SparseGPT / GPTQ, up to 2/n."""
    total = x.T @ x
    return total if running is None else running + total


@torch.no_grad()
def input_statistics(
    model: nn.Module,
    layers: dict[str, nn.Linear],
    batches: Sequence[torch.Tensor],
    accumulate: Accumulate,
    progress: bool = False,
) -> tuple[dict[str, torch.Tensor], int]:
    """``({layer name: statistic}, token count)`` after running every batch through ``model``."""
    from tqdm.auto import tqdm

    stats: dict[str, torch.Tensor | None] = dict.fromkeys(layers)

    def hook(name: str) -> Callable[..., None]:
        def record(_module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            x = inputs[0].detach().float()
            stats[name] = accumulate(x.reshape(-1, x.shape[-1]), stats[name])

        return record

    handles = [layer.register_forward_pre_hook(hook(name)) for name, layer in layers.items()]
    tokens = 0
    try:
        device = next(model.parameters()).device
        for batch in tqdm(batches, desc="calibration", unit="window", disable=not progress):
            model(input_ids=batch.to(device), use_cache=False)
            tokens += batch.numel()
    finally:
        for handle in handles:
            handle.remove()
    missing = [name for name, value in stats.items() if value is None]
    if missing:
        raise RuntimeError(f"calibration never reached layers {missing[:3]}")
    return {name: value for name, value in stats.items() if value is not None}, tokens
