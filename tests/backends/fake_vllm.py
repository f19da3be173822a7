"""A recording fake of the part of vLLM's offline API that VLLMBackend uses.

It follows vLLM's documented shapes: ``LLM(model=..., **engine_args)``, ``LLM.get_tokenizer()``,
``LLM.generate(prompts, sampling_params, use_tqdm=...)`` returning ``RequestOutput`` objects
with ``outputs[0].text / token_ids / finish_reason`` and ``prompt_logprobs`` (None for the
first position, then ``{token_id: Logprob(logprob, rank, decoded_token)}`` holding the prompt
token and the top-k). Log-probabilities come from a real transformers model over the same
folder, so the adapter's arithmetic can be checked against TransformersBackend.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class SamplingParams:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int | None = 16
    seed: int | None = None
    stop: list[str] | None = None
    prompt_logprobs: int | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    finish_reason: str | None


@dataclass
class RequestOutput:
    prompt: str | None
    prompt_token_ids: list[int]
    prompt_logprobs: list[dict[int, Logprob] | None] | None
    outputs: list[CompletionOutput] = field(default_factory=list)


class LLM:
    instances: ClassVar[list[LLM]] = []

    def __init__(self, model: str, **kwargs: Any) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.kwargs = {"model": model, **kwargs}
        self.calls: list[tuple[list[Any], list[SamplingParams], bool]] = []
        self._tokenizer = AutoTokenizer.from_pretrained(kwargs.get("tokenizer", model), local_files_only=True)
        self._model = AutoModelForCausalLM.from_pretrained(model, local_files_only=True).eval()
        LLM.instances.append(self)

    def get_tokenizer(self) -> Any:
        return self._tokenizer

    def generate(self, prompts: list[Any], sampling_params: list[SamplingParams], use_tqdm: bool = True) -> list:
        assert isinstance(sampling_params, list) and len(sampling_params) == len(prompts)
        self.calls.append((list(prompts), list(sampling_params), use_tqdm))
        return [self._answer(p, s) for p, s in zip(prompts, sampling_params, strict=True)]

    def _answer(self, prompt: Any, params: SamplingParams) -> RequestOutput:
        if isinstance(prompt, dict):
            ids, text = list(prompt["prompt_token_ids"]), None
        else:
            ids, text = self._tokenizer(prompt, add_special_tokens=False).input_ids, prompt
        prompt_logprobs = None
        if params.prompt_logprobs is not None:
            with torch.inference_mode():
                logprobs = torch.log_softmax(self._model(torch.tensor([ids])).logits[0].float(), dim=-1)
            prompt_logprobs = [None]
            for position, token in enumerate(ids[1:]):
                row = logprobs[position]
                ranks = int((row > row[token]).sum()) + 1
                entry = {token: Logprob(float(row[token]), ranks)}
                top = int(row.argmax())
                entry.setdefault(top, Logprob(float(row[top]), 1))
                prompt_logprobs.append(entry)
        # A generation the test can recognise: which seed and which prompt produced it.
        body = f"seed={params.seed} temp={params.temperature} STOP tail"
        reason = "length"
        for stop in params.stop or []:
            if stop in body:
                body, reason = body[: body.index(stop)], "stop"
        completion = CompletionOutput(0, body, list(range(min(params.max_tokens or 1, 5))), reason)
        return RequestOutput(text, ids, prompt_logprobs, [completion])


def install(monkeypatch: Any) -> types.ModuleType:
    module = types.ModuleType("vllm")
    module.LLM = LLM  # type: ignore[attr-defined]
    module.SamplingParams = SamplingParams  # type: ignore[attr-defined]
    LLM.instances = []
    monkeypatch.setitem(__import__("sys").modules, "vllm", module)
    return module
