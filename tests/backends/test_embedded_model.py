"""The real embedded model (SmolLM2-135M-Instruct from its GGUF) through TransformersBackend."""

from __future__ import annotations

import pytest
import torch

from trustwatch.common.requests import GenerateRequest, LoglikelihoodRequest
from trustwatch.server.backends.transformers_backend import TransformersBackend

from .direct import direct_logprob

pytestmark = pytest.mark.slow

PAIRS = [
    ("The capital of France is", " Paris."),
    ("", "Safety probes are replayed against every variant."),
    ("My neighbour works as a", " nurse at the hospital."),
    ("Question: what colour is the sky?\nAnswer:", " blue"),
]


def test_embedded_model_is_float_smollm2(embedded_backend: TransformersBackend) -> None:
    assert embedded_backend.parameters == 134_515_008
    assert embedded_backend.model.dtype == torch.float32
    assert embedded_backend.resolved.kind == "embedded"
    assert embedded_backend.chat_template is True


def test_scores_agree_with_direct_transformers(embedded_backend: TransformersBackend) -> None:
    results = embedded_backend.loglikelihood([LoglikelihoodRequest(c, x) for c, x in PAIRS])
    for (context, continuation), result in zip(PAIRS, results, strict=True):
        logprob, tokens, greedy = direct_logprob(embedded_backend.resolved.path, context, continuation)
        assert result.tokens == tokens
        assert result.logprob == pytest.approx(logprob, abs=1e-3)
        assert result.is_greedy == greedy
    assert results[0].is_greedy  # " Paris." is what the model says


def test_scores_do_not_depend_on_batch_size(embedded_backend: TransformersBackend) -> None:
    requests = [LoglikelihoodRequest(c, x) for c, x in PAIRS] * 8
    seen = {}
    for size in (1, 7, 32):
        embedded_backend.batch_size = size
        seen[size] = [r.logprob for r in embedded_backend.loglikelihood(requests)]
    embedded_backend.batch_size = 8
    assert seen[7] == pytest.approx(seen[1], abs=1e-3)
    assert seen[32] == pytest.approx(seen[1], abs=1e-3)


def test_greedy_generation_equals_transformers_generate(embedded_backend: TransformersBackend) -> None:
    request = GenerateRequest("Name three colours.", max_new_tokens=24)
    [ours] = embedded_backend.generate([request])
    prompt = embedded_backend.render_prompt(request)
    ids = embedded_backend.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    out = embedded_backend.model.generate(**ids, do_sample=False, max_new_tokens=24)
    theirs = embedded_backend.tokenizer.decode(out[0, ids.input_ids.shape[1] :], skip_special_tokens=True)
    assert ours.text == theirs
    assert ours.text.strip()


def test_seeded_sampling_reproduces_in_any_batch(embedded_backend: TransformersBackend) -> None:
    request = GenerateRequest("Tell me about the sea.", max_new_tokens=20, temperature=0.9, seed=7)
    [alone] = embedded_backend.generate([request])
    mixed = embedded_backend.generate([GenerateRequest("Hi", max_new_tokens=6, temperature=0.9, seed=1), request])
    assert mixed[1] == alone
