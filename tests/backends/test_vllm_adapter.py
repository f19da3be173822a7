"""VLLMBackend's translation to and from vLLM's API, against a recording fake of that API."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from trustwatch.common.requests import GenerateRequest, LoglikelihoodRequest
from trustwatch.server.backends import create_backend
from trustwatch.server.backends.transformers_backend import TransformersBackend

from . import fake_vllm


def test_package_imports_without_vllm() -> None:
    import trustwatch.server.backends.vllm_backend  # noqa: F401

    assert "vllm" not in sys.modules or not hasattr(sys.modules["vllm"], "__file__")


def test_missing_vllm_gives_a_clear_error(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(RuntimeError, match=r"pip install 'trustwatch\[vllm\]'"):
        create_backend("vllm", str(tiny_model_dir))


def test_engine_arguments_reach_vllm(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_vllm.install(monkeypatch)
    backend = create_backend("vllm", str(tiny_model_dir), gpu_memory_utilization=0.3, max_model_len=128)
    [llm] = fake_vllm.LLM.instances
    assert llm.kwargs["gpu_memory_utilization"] == 0.3
    assert llm.kwargs["max_model_len"] == 128
    assert llm.kwargs["model"] == str(tiny_model_dir.resolve())
    assert backend.name == "vllm"
    with pytest.raises(ValueError, match="gpu_memory_utilization"):
        create_backend("vllm", str(tiny_model_dir), gpu_memory_utilization=1.5)


def test_generate_sends_one_seeded_sampling_params_per_request(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_vllm.install(monkeypatch)
    backend = create_backend("vllm", str(tiny_model_dir), batch_size=2)
    requests = [
        GenerateRequest("a", max_new_tokens=3, temperature=0.7, top_p=0.9, seed=5),
        GenerateRequest("b", max_new_tokens=9, seed=6, stop=("STOP",), chat=False),
        GenerateRequest("c", seed=7),
    ]
    results = backend.generate(requests)
    [llm] = fake_vllm.LLM.instances
    assert len(llm.calls) == 2  # batch_size 2: two engine calls
    prompts = [p for call in llm.calls for p in call[0]]
    params = [s for call in llm.calls for s in call[1]]
    assert [s.seed for s in params] == [5, 6, 7]
    assert [s.max_tokens for s in params] == [3, 9, 64]
    assert (params[0].temperature, params[0].top_p) == (0.7, 0.9)
    assert params[1].stop == ["STOP"] and params[0].stop is None
    assert prompts[0] == "<|user|>a<|end|><|assistant|>"  # chat template by default
    assert prompts[1] == "b"
    assert results[0].text.startswith("seed=5 temp=0.7")
    assert results[1].text == "seed=6 temp=0.0 " and results[1].finish_reason == "stop"
    assert results[0].finish_reason == "length" and results[0].tokens == 3


def test_loglikelihood_through_prompt_logprobs_matches_transformers(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_vllm.install(monkeypatch)
    backend = create_backend("vllm", str(tiny_model_dir))
    reference = TransformersBackend(str(tiny_model_dir))
    requests = [
        LoglikelihoodRequest("The quick brown", " fox jumps"),
        LoglikelihoodRequest("", "Hello world"),
        LoglikelihoodRequest("Every group ", "is measured."),
    ]
    ours = backend.loglikelihood(requests)
    theirs = reference.loglikelihood(requests)
    for a, b in zip(ours, theirs, strict=True):
        assert a.tokens == b.tokens
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4)
        assert a.is_greedy == b.is_greedy
    [llm] = fake_vllm.LLM.instances
    [(prompts, params, _)] = llm.calls
    assert all(isinstance(p, dict) and "prompt_token_ids" in p for p in prompts)
    assert all(s.prompt_logprobs == 1 and s.max_tokens == 1 for s in params)
    # An empty context is conditioned on the BOS token, as in the transformers backend.
    assert prompts[1]["prompt_token_ids"][0] == reference.tokenizer.bos_token_id


def test_greedy_flag_follows_vllm_rank(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_vllm.install(monkeypatch)
    backend = create_backend("vllm", str(tiny_model_dir))
    reference = TransformersBackend(str(tiny_model_dir))
    [greedy] = reference.generate([GenerateRequest("The quick", max_new_tokens=3, chat=False)])
    if greedy.text.strip():
        request = LoglikelihoodRequest("The quick", greedy.text)
        assert backend.loglikelihood([request])[0].is_greedy == reference.loglikelihood([request])[0].is_greedy
