"""SparseGPT's contract on a hand-made layer and through the pipeline on the tiny model (fast)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trustwatch.compress.activations import gram
from trustwatch.compress.magnitude import lowest_mask
from trustwatch.compress.manifest import read_manifest
from trustwatch.compress.pipeline import compress_model
from trustwatch.compress.sparsegpt import sparsegpt_weight


@pytest.fixture
def layer() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(16, 256, generator=generator)
    # Correlated inputs (rank 64 plus noise): where SparseGPT's update can make up for what it prunes.
    mixing = torch.randn(64, 256, generator=generator)
    inputs = torch.randn(512, 64, generator=generator) @ mixing + 0.1 * torch.randn(
        512, 256, generator=generator
    )
    return weight, inputs


def test_sparsegpt_hits_the_sparsity_and_beats_magnitude_on_the_output(
    layer: tuple[torch.Tensor, torch.Tensor],
) -> None:
    weight, inputs = layer
    pruned = sparsegpt_weight(weight, gram(inputs, None), 0.5, None)
    assert int((pruned == 0).sum()) == weight.numel() // 2
    magnitude = weight.masked_fill(
        lowest_mask(weight.abs().flatten(), weight.numel() // 2).view_as(weight), 0.0
    )
    error = torch.linalg.norm((weight - pruned) @ inputs.T)
    assert error < 0.7 * torch.linalg.norm((weight - magnitude) @ inputs.T)


def test_sparsegpt_nm_leaves_n_zeros_per_block(layer: tuple[torch.Tensor, torch.Tensor]) -> None:
    weight, inputs = layer
    pruned = sparsegpt_weight(weight, gram(inputs, None), None, (2, 4))
    assert int((pruned.reshape(16, 64, 4) == 0).sum(-1).min()) >= 2


def test_sparsegpt_through_the_pipeline(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = compress_model(
        str(tiny_model_dir), {"method": "sparsegpt", "sparsity": 0.5, "seq_len": 32}, tmp_path / "s"
    )
    manifest = read_manifest(out)
    assert manifest is not None and manifest["calibration"]["tokens"] > 0
    assert manifest["calibration"]["procedure"] == "block-by-block"
    assert set(manifest["sparsity"]["layers"].values()) == {0.5}
