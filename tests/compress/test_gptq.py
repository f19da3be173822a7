"""GPTQ through gptqmodel (the optional ``gptq`` extra): one small real run on the tiny model (slow).

Skipped when gptqmodel is not installed; CI installs the extra, so it runs there.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from trustwatch.common.requests import GenerateRequest, LoglikelihoodRequest
from trustwatch.compress.gptq import gptq_available
from trustwatch.compress.manifest import read_manifest
from trustwatch.compress.pipeline import compress_model

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not gptq_available(), reason="gptqmodel is not installed (pip install 'trustwatch[gptq]')"
    ),
]


def test_gptq_folder_loads_and_generates_on_cpu(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = compress_model(
        str(tiny_model_dir),
        {"method": "gptq", "bits": 4, "group_size": 32, "seq_len": 64, "samples": 8},
        tmp_path / "gptq",
    )
    config = json.loads((out / "quantize_config.json").read_text())
    assert (config["bits"], config["group_size"], config["format"]) == (4, 32, "gptq")
    manifest = read_manifest(out)
    assert manifest is not None and manifest["format"] == "gptq"
    assert manifest["quantization"] == {"bits": 4, "group_size": 32, "sym": True}
    assert manifest["calibration"]["tokens"] > 0 and manifest["versions"]["gptqmodel"] == "7.6.0"
    if importlib.util.find_spec("optimum") is None:
        pytest.skip("transformers loads GPTQ folders only with optimum installed (part of the gptq extra)")
    from trustwatch.server.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(str(out), device="cpu", dtype="float32")
    assert "TorchAtenLinear" in type(backend.model.model.layers[0].self_attn.q_proj).__name__
    text = backend.generate(
        [GenerateRequest("The quick brown", max_new_tokens=5, temperature=0.0, chat=False)]
    )
    assert 1 <= text[0].tokens <= 5 and text[0].finish_reason in ("stop", "length")
    scored = backend.loglikelihood([LoglikelihoodRequest("The quick brown", " fox")])
    assert scored[0].logprob < 0
