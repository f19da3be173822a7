"""Each method's contract, on real weights of the embedded model (slow) and on hand-made cases.

To keep the suite fast the embedded model is cut to three of its decoder blocks (0, 14 and
29, real weights all); the whole model goes through the pipeline in test_pipeline.py.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from trustwatch.common.model_specs import resolve_model
from trustwatch.compress.activations import input_statistics, squared_norms
from trustwatch.compress.calibration import calibration_batches, load_calibration
from trustwatch.compress.layers import load_model, sparsity_report, target_linears
from trustwatch.compress.magnitude import prune_magnitude
from trustwatch.compress.nm import prune_nm
from trustwatch.compress.rtn import quantize_rtn, rtn_dequantized
from trustwatch.compress.wanda import prune_wanda, wanda_mask

KEPT_BLOCKS = (0, 14, 29)


@pytest.fixture(scope="module")
def embedded() -> tuple[nn.Module, object]:
    model, tokenizer = load_model(resolve_model("embedded:smollm2-135m").path)
    model.model.layers = nn.ModuleList(model.model.layers[i] for i in KEPT_BLOCKS)
    model.config.num_hidden_layers = len(KEPT_BLOCKS)
    for index, block in enumerate(model.model.layers):
        block.self_attn.layer_idx = index
    return model, tokenizer


@pytest.fixture
def model(embedded: tuple[nn.Module, object]) -> nn.Module:
    return copy.deepcopy(embedded[0])


def _distinct_per_group(weight: torch.Tensor, group: int) -> torch.Tensor:
    rows, cols = weight.shape
    groups = weight.reshape(rows * (cols // group), group).sort(-1).values
    return (groups.diff(dim=-1) != 0).sum(-1) + 1


def _assert_head_untouched(model: nn.Module, original: nn.Module) -> None:
    assert model.lm_head.weight is model.model.embed_tokens.weight  # still tied
    assert torch.equal(model.model.embed_tokens.weight, original.model.embed_tokens.weight)


@pytest.mark.slow
def test_targets_are_the_decoder_linears(model: nn.Module) -> None:
    layers = target_linears(model)
    assert len(layers) == len(KEPT_BLOCKS) * 7
    assert {name.rsplit(".", 1)[1] for name in layers} == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    assert "lm_head" not in layers
    assert "lm_head" in target_linears(model, include_head=True)


@pytest.mark.slow
@pytest.mark.parametrize("sparsity", [0.5, 0.3])
def test_magnitude_hits_the_exact_sparsity_of_every_layer(
    model: nn.Module, embedded: tuple[nn.Module, object], sparsity: float
) -> None:
    original = embedded[0]
    prune_magnitude(model, sparsity)
    report = sparsity_report(target_linears(model))
    for name, layer in target_linears(model).items():
        weight = layer.weight
        assert int((weight == 0).sum()) == round(sparsity * weight.numel()), name
        # What survives is what was largest: every kept |w| >= every pruned |w| of the original.
        source = dict(original.named_modules())[name].weight.abs()
        assert source[weight != 0].min() >= source[weight == 0].max(), name
    assert report["overall"] == pytest.approx(sparsity, abs=1e-6)
    _assert_head_untouched(model, original)


@pytest.mark.slow
@pytest.mark.parametrize(("n", "m"), [(2, 4), (4, 8)])
def test_nm_leaves_at_least_n_zeros_in_every_block_of_m(
    model: nn.Module, embedded: tuple[nn.Module, object], n: int, m: int
) -> None:
    prune_nm(model, n, m)
    for name, layer in target_linears(model).items():
        rows, cols = layer.weight.shape
        zeros_per_block = (layer.weight.reshape(rows, cols // m, m) == 0).sum(-1)
        assert int(zeros_per_block.min()) >= m - n, name  # M - N == N for 2:4 and 4:8
    assert sparsity_report(target_linears(model))["overall"] == pytest.approx((m - n) / m, abs=1e-3)
    _assert_head_untouched(model, embedded[0])


@pytest.mark.slow
@pytest.mark.parametrize("bits", [8, 4, 3])
@pytest.mark.parametrize("sym", [True, False])
def test_rtn_keeps_at_most_2_to_the_bits_values_per_group(model: nn.Module, bits: int, sym: bool) -> None:
    layers = target_linears(model)
    for name in (
        "model.layers.0.self_attn.q_proj",
        "model.layers.0.mlp.down_proj",
        "model.layers.2.mlp.up_proj",
    ):
        weight = layers[name].weight.detach()
        quantized = rtn_dequantized(weight, bits, 64, sym)
        assert int(_distinct_per_group(quantized, 64).max()) <= 2**bits
        error = (quantized - weight).abs().reshape(weight.shape[0], -1, 64)
        spread = weight.reshape(weight.shape[0], -1, 64)
        step = (spread.amax(-1) - spread.amin(-1).clamp(max=0)) / (2**bits - 1)
        # Round to nearest: off by at most one step (half a step where the grid is fitted exactly).
        assert bool((error.amax(-1) <= step * (2 if sym else 0.5) + 1e-6).all()), name
    per_row = rtn_dequantized(layers["model.layers.1.self_attn.v_proj"].weight.detach(), bits, -1, sym)
    assert int(_distinct_per_group(per_row, per_row.shape[1]).max()) <= 2**bits


@pytest.mark.slow
def test_rtn_on_the_whole_model_quantizes_every_target_layer(
    model: nn.Module, embedded: tuple[nn.Module, object]
) -> None:
    quantize_rtn(model, 4, 64, sym=False)
    for name, layer in target_linears(model).items():
        assert int(_distinct_per_group(layer.weight.detach(), 64).max()) <= 16, name
    _assert_head_untouched(model, embedded[0])


class _Probe(nn.Module):
    """A one-Linear "model" whose inputs have hand-set feature scales (for Wanda's hooks)."""

    def __init__(self, scales: list[float], weight: list[list[float]]) -> None:
        super().__init__()
        self.scales = torch.tensor(scales)
        self.linear = nn.Linear(len(scales), len(weight), bias=False)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor(weight))

    def forward(self, input_ids: torch.Tensor, use_cache: bool = False) -> torch.Tensor:
        signs = torch.where(input_ids % 2 == 0, 1.0, -1.0)[..., None]
        return self.linear(signs * self.scales)


def test_wanda_differs_from_magnitude_where_activations_differ() -> None:
    weight = [[1.0, 2.0, 3.0, 4.0], [-4.0, 3.0, -2.0, 1.0]]
    probe = _Probe([10.0, 1.0, 1.0, 10.0], weight)
    norms, tokens = input_statistics(
        probe, {"linear": probe.linear}, [torch.arange(8)[None, :]], squared_norms
    )
    assert tokens == 8
    assert torch.allclose(norms["linear"].sqrt(), torch.tensor([10.0, 1.0, 1.0, 10.0]) * 8**0.5)
    mask = wanda_mask(probe.linear.weight, norms["linear"].sqrt(), 0.5, None)
    # |W| * ||X||: row 0 scores 10, 2, 3, 40 -> inputs 1 and 2 go; magnitude would drop inputs 0 and 1.
    assert mask.tolist() == [[False, True, True, False], [False, True, True, False]]
    magnitude = torch.tensor(weight).abs().argsort(-1)[:, :2].sort(-1).values
    assert magnitude.tolist() == [[0, 1], [2, 3]]
    assert wanda_mask(probe.linear.weight, norms["linear"].sqrt(), None, (2, 4)).tolist() == mask.tolist()


@pytest.mark.slow
@pytest.mark.parametrize(("sparsity", "pattern"), [(0.5, None), (None, (2, 4))])
def test_wanda_on_the_embedded_model(
    model: nn.Module,
    embedded: tuple[nn.Module, object],
    sparsity: float | None,
    pattern: tuple[int, int] | None,
) -> None:
    batches = calibration_batches(embedded[1], load_calibration(), seq_len=128, samples=4)
    prune_wanda(model, batches, sparsity, pattern)
    layers = target_linears(model)
    for name, layer in layers.items():
        rows, cols = layer.weight.shape
        if pattern:
            assert int((layer.weight.reshape(rows, cols // 4, 4) == 0).sum(-1).min()) >= 2, name
        else:  # compared per output row: every row loses exactly half
            assert bool(((layer.weight == 0).sum(-1) == cols // 2).all()), name
    assert sparsity_report(layers)["overall"] == pytest.approx(0.5, abs=1e-3)
    magnitude = copy.deepcopy(embedded[0])
    prune_nm(magnitude, 2, 4) if pattern else prune_magnitude(magnitude, 0.5)
    same = layers["model.layers.1.mlp.down_proj"].weight == 0
    other = dict(magnitude.named_modules())["model.layers.1.mlp.down_proj"].weight == 0
    assert 0.05 < float((same != other).float().mean()) < 0.9  # a different choice, not a random one
    _assert_head_untouched(model, embedded[0])


@pytest.mark.slow
def test_wanda_calibrates_each_block_on_the_pruned_blocks_before_it(
    model: nn.Module, embedded: tuple[nn.Module, object]
) -> None:
    """Block 0 is pruned from the dense inputs; block 1 from what the *pruned* block 0 produces."""
    batches = calibration_batches(embedded[1], load_calibration(), seq_len=64, samples=2)
    prune_wanda(model, batches, 0.5)

    expected = copy.deepcopy(embedded[0])
    layers = target_linears(expected)
    first = {n: layer for n, layer in layers.items() if n.startswith("model.layers.0.")}
    second = {n: layer for n, layer in layers.items() if n.startswith("model.layers.1.")}
    dense, _ = input_statistics(expected, {**first, **second}, batches, squared_norms)
    with torch.no_grad():
        for name, layer in first.items():
            layer.weight.masked_fill_(wanda_mask(layer.weight, dense[name].sqrt(), 0.5, None), 0.0)
    after_first, _ = input_statistics(expected, second, batches, squared_norms)
    pruned = dict(model.named_modules())
    for name, layer in first.items():
        assert torch.equal(pruned[name].weight == 0, layer.weight == 0), name
    for name, layer in second.items():
        chosen = pruned[name].weight == 0
        sequential = wanda_mask(layer.weight, after_first[name].sqrt(), 0.5, None)
        one_pass = wanda_mask(layer.weight, dense[name].sqrt(), 0.5, None)
        # Equal up to near-ties that float summation order may flip.
        assert float((chosen != sequential).float().mean()) < 1e-4, name
        assert float((chosen != one_pass).float().mean()) > 1e-3, f"{name}: block 0's pruning changed nothing"
