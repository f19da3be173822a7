"""vLLM backend: the production path on GPU, over vLLM's documented offline API.

- ``generate``: ``LLM.generate(prompts, [SamplingParams(seed=..., ...)])``, one
  ``SamplingParams`` per request so that each request keeps its own seed.
- ``loglikelihood``: ``SamplingParams(max_tokens=1, prompt_logprobs=1)`` over the token ids
  of context + continuation; vLLM returns, for every prompt position after the first,
  a ``{token_id: Logprob(logprob, rank, decoded_token)}`` dict that always holds the
  prompt's own token, so the continuation's log-probability is their sum and it is the
  greedy continuation when every one of its tokens has rank 1.
- Several variants share one GPU through ``gpu_memory_utilization`` (each ``LLM`` takes
  that share of the GPU's memory).

vllm is imported only when a ``VLLMBackend`` is built, so the package works without it.
Tokenization follows ``tokenization.py``, as in ``TransformersBackend``, so both backends
score the same token sequences.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from trustwatch.common.model_specs import ResolvedModel, resolve_model
from trustwatch.common.requests import (
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    cut_at_stop,
)
from trustwatch.server.backends.tokenization import pair_tokens, render_prompt


def _import_vllm() -> Any:
    try:
        return importlib.import_module("vllm")
    except ImportError as error:
        raise RuntimeError(
            "the vllm backend needs vLLM: pip install 'trustwatch[vllm]' on a CUDA machine, or name the "
            "interpreter of an environment that has it in the variant's options.python "
            f"(e.g. .venv-vllm/bin/python; import failed: {error})"
        ) from error


class VLLMBackend:
    name = "vllm"

    def __init__(
        self,
        model: str | ResolvedModel,
        *,
        gpu_memory_utilization: float = 0.9,
        dtype: str = "auto",
        max_model_len: int | None = None,
        chat_template: bool | None = None,
        batch_size: int = 256,
        seed: int = 0,
        progress: bool = False,
        **llm_options: Any,
    ) -> None:
        if not 0 < gpu_memory_utilization <= 1:
            raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._vllm = _import_vllm()
        self.resolved = model if isinstance(model, ResolvedModel) else resolve_model(model, progress=progress)
        options: dict[str, Any] = {
            "model": str(self.resolved.path),
            "tokenizer": str(self.resolved.path),
            "gpu_memory_utilization": gpu_memory_utilization,
            "dtype": dtype,
            "seed": seed,
            **llm_options,
        }
        if max_model_len is not None:
            options["max_model_len"] = max_model_len
        self.llm = self._vllm.LLM(**options)
        self.tokenizer = self.llm.get_tokenizer()
        self.batch_size = batch_size
        self.progress = progress
        has_template = bool(getattr(self.tokenizer, "chat_template", None))
        self.chat_template = has_template if chat_template is None else chat_template
        if self.chat_template and not has_template:
            raise ValueError(f"chat_template=True, but the tokenizer of {self.resolved.spec!r} has none")
        bos, eos = self.tokenizer.bos_token_id, self.tokenizer.eos_token_id
        self.prefix_id = bos if bos is not None else eos

    def close(self) -> None:
        del self.llm

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def render_prompt(self, request: GenerateRequest) -> str:
        return render_prompt(self.tokenizer, request, self.chat_template, self.resolved.spec)

    def _run(self, prompts: list[Any], params: list[Any]) -> list[Any]:
        outputs: list[Any] = []
        for start in range(0, len(prompts), self.batch_size):
            end = start + self.batch_size
            outputs.extend(self.llm.generate(prompts[start:end], params[start:end], use_tqdm=self.progress))
        return outputs

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        params = [
            self._vllm.SamplingParams(
                n=1,
                temperature=r.temperature,
                top_p=r.top_p,
                max_tokens=r.max_new_tokens,
                seed=r.seed,
                stop=list(r.stop) or None,
            )
            for r in requests
        ]
        outputs = self._run([self.render_prompt(r) for r in requests], params)
        results = []
        for request, output in zip(requests, outputs, strict=True):
            completion = output.outputs[0]
            # vLLM already cuts at stop strings; cut again so both backends agree on the rule.
            text, _ = cut_at_stop(completion.text, request.stop)
            reason = "length" if completion.finish_reason == "length" else "stop"
            results.append(GenerateResult(text, len(completion.token_ids), reason))
        return results

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        encoded = [pair_tokens(self.encode, r, self.prefix_id) for r in requests]
        prompts = [{"prompt_token_ids": tokens} for tokens, _ in encoded]
        params = [self._vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1) for _ in requests]
        results = []
        for (tokens, n), output in zip(encoded, self._run(prompts, params), strict=True):
            positions = output.prompt_logprobs[len(tokens) - n :]
            total, greedy = 0.0, True
            for token, logprobs in zip(tokens[len(tokens) - n :], positions, strict=True):
                chosen = logprobs[token]
                total += chosen.logprob
                if chosen.rank is not None:
                    greedy = greedy and chosen.rank == 1
                else:
                    greedy = greedy and chosen.logprob >= max(lp.logprob for lp in logprobs.values())
            results.append(LoglikelihoodResult(total, n, greedy))
        return results
