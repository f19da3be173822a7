"""Statistics of each Linear's inputs over calibration tokens, gathered with forward hooks.

``compress_block_by_block`` is the sequential procedure of the papers' own implementations
(SparseGPT, Frantar & Alistarh 2023, compresses one Transformer block at a time, with the
inputs of each block produced by the already-compressed blocks; Wanda, Sun et al. 2023,
calibrates the same way): the calibration windows enter the first block; each block's
Linears get their statistics from that block's inputs, are compressed, and the block's
outputs *after* compression are the next block's inputs. So every layer is calibrated on
what the already-compressed layers before it produce, not on the dense model's activations.

``input_statistics`` is one dense pass that fills the statistics of any set of layers at
once (the output head after the blocks, and tests).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

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


@contextmanager
def recording(layers: dict[str, nn.Linear], accumulate: Accumulate) -> Iterator[dict[str, torch.Tensor | None]]:
    """``{layer name: statistic}``, accumulated from each layer's inputs while the block runs."""
    stats: dict[str, torch.Tensor | None] = dict.fromkeys(layers)

    def hook(name: str) -> Callable[..., None]:
        def record(_module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
            x = inputs[0].detach().float()
            stats[name] = accumulate(x.reshape(-1, x.shape[-1]), stats[name])

        return record

    handles = [layer.register_forward_pre_hook(hook(name)) for name, layer in layers.items()]
    try:
        yield stats
    finally:
        for handle in handles:
            handle.remove()


def _filled(stats: dict[str, torch.Tensor | None]) -> dict[str, torch.Tensor]:
    missing = [name for name, value in stats.items() if value is None]
    if missing:
        raise RuntimeError(f"calibration never reached layers {missing[:3]}")
    return {name: value for name, value in stats.items() if value is not None}


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

    tokens = 0
    device = next(model.parameters()).device
    with recording(layers, accumulate) as stats:
        for batch in tqdm(batches, desc="calibration", unit="window", disable=not progress):
            model(input_ids=batch.to(device), use_cache=False)
            tokens += batch.numel()
    return _filled(stats), tokens


Compress = Callable[[nn.Linear, torch.Tensor], None]
"""``(layer, its input statistic)``: compress the layer in place."""


class _Captured(Exception):
    """Raised by the hook on the first block once it has its inputs: the rest of the model is skipped."""


@torch.no_grad()
def compress_block_by_block(
    model: nn.Module,
    blocks: nn.ModuleList,
    layers: dict[str, nn.Linear],
    batches: Sequence[torch.Tensor],
    accumulate: Accumulate,
    compress: Compress,
    label: str,
    progress: bool = False,
) -> None:
    """Compress ``layers`` block by block, each block calibrated on the compressed blocks before it.

    Layers outside ``blocks`` (the output head) are compressed last, from one pass of the
    compressed model.
    """
    from tqdm.auto import tqdm

    block_names = {id(module): name for name, module in model.named_modules()}
    inputs = _first_block_inputs(model, blocks[0], batches)
    done: set[str] = set()
    for block in tqdm(blocks, desc=label, unit="block", disable=not progress):
        prefix = block_names[id(block)] + "."
        own = {name: layer for name, layer in layers.items() if name.startswith(prefix)}
        stats = _block_statistics(block, own, inputs, accumulate)
        for name, layer in own.items():
            compress(layer, stats.pop(name))
        done.update(own)
        inputs = [_next_inputs(block, args, kwargs) for args, kwargs in inputs]
    rest = {name: layer for name, layer in layers.items() if name not in done}
    if rest:
        stats, _ = input_statistics(model, rest, batches, accumulate)
        for name, layer in rest.items():
            compress(layer, stats[name])


def _first_block_inputs(
    model: nn.Module, first: nn.Module, batches: Sequence[torch.Tensor]
) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    captured: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def capture(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        captured.append((args, kwargs))
        raise _Captured

    handle = first.register_forward_pre_hook(capture, with_kwargs=True)
    try:
        device = next(model.parameters()).device
        for batch in batches:
            with suppress(_Captured):
                model(input_ids=batch.to(device), use_cache=False)
    finally:
        handle.remove()
    if len(captured) != len(batches):
        raise RuntimeError(f"calibration reached the first block {len(captured)} times for {len(batches)} windows")
    return captured


def _block_statistics(
    block: nn.Module,
    layers: dict[str, nn.Linear],
    inputs: list[tuple[tuple[Any, ...], dict[str, Any]]],
    accumulate: Accumulate,
) -> dict[str, torch.Tensor]:
    with recording(layers, accumulate) as stats:
        for args, kwargs in inputs:
            block(*args, **kwargs)
    return _filled(stats)


def _next_inputs(
    block: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The next block's call: this block's output in place of its hidden states, the rest as they were."""
    out = block(*args, **kwargs)
    hidden = out[0] if isinstance(out, tuple) else out
    if args:
        return (hidden, *args[1:]), kwargs
    return args, {**kwargs, "hidden_states": hidden}
