"""GPTQ quantization through gptqmodel (the optional ``gptq`` extra).

Frantar et al. 2023, "GPTQ: Accurate Post-Training Quantization for Generative
Pre-trained Transformers", Sec. 3-4: each layer's weights are quantized column by column,
and the error of every quantized column is spread over the columns not yet quantized
through the inverse of the layer-wise Hessian ``H = 2 X^T X`` of its calibration inputs.
gptqmodel runs it block by block over the calibration windows and writes the GPTQ
format (int32-packed ``qweight``/``qzeros``/``scales``, ``quantize_config.json``) that
vLLM loads natively; transformers loads it too when gptqmodel and optimum are installed.

gptqmodel is imported only here, inside the function: the package works without it.
On a CPU it needs ``GPTQMODEL_CPU_WORKERS`` (set to 2 when unset) and a group size that
divides every layer's input width (``check_model_shapes`` refuses the others first).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from trustwatch.common.errors import UnavailableError
from trustwatch.common.offline import held_back_output

GPTQ_EXTRA_HINT = "install the gptq extra: pip install 'trustwatch[gptq]' (gptqmodel==7.6.0 and optimum)"


def gptq_available() -> bool:
    """Whether gptqmodel is installed (checked without importing it: its import is slow and noisy)."""
    return importlib.util.find_spec("gptqmodel") is not None


def quantize_gptq(
    source: Path,
    out_dir: Path,
    batches: Sequence[torch.Tensor],
    bits: int,
    group_size: int,
    sym: bool = True,
) -> None:
    """GPTQ-quantize the float folder ``source`` on ``batches`` and write the GPTQ folder ``out_dir``.

    gptqmodel's banner, INFO tables and bars are held back (shown only if quantization fails),
    so that stdout stays clean for ``--json`` and a first ``make demo`` stays readable.
    """
    if not gptq_available():
        raise UnavailableError(f"method gptq needs gptqmodel, which is not installed; {GPTQ_EXTRA_HINT}")
    os.environ.setdefault("GPTQMODEL_CPU_WORKERS", "2")
    with held_back_output():
        from gptqmodel import GPTQModel, QuantizeConfig

        device = "cuda" if torch.cuda.is_available() else "cpu"
        config = QuantizeConfig(
            bits=bits, group_size=group_size, sym=sym, desc_act=False, offload_to_disk=False
        )
        model = GPTQModel.load(str(source), config, device=device)
        calibration = [{"input_ids": b[0].tolist(), "attention_mask": [1] * b.shape[1]} for b in batches]
        model.quantize(calibration, batch_size=1, calibration_data_min_length=1)
        model.save(str(out_dir))
