"""PyTorch/transformers backend: the embedded default, on CPU (and CUDA when present).

Batching sorts requests by length so that a batch pads little. Scoring first packs
requests that share a prefix (the answers of one BBQ context, the two sentences of a
CrowS-Pairs pair) into one row as a token trie with tree attention, so the prefix runs
once (:mod:`.prefix_packing`). A batch without such a row pads on the right and passes no
attention mask: under the causal mask no real token sees the padding after it, and
attention runs its unmasked fast path. It computes logits only at the
positions where continuations are scored (``logits_to_keep`` with their indices), not
over the whole vocabulary at every position. Generation pads on the left and passes
explicit ``position_ids`` (cumulative sum of the attention mask), so a padded row sees
exactly the positions and keys it would see alone. Either way results do not depend on
the batch size or on the padding, to float tolerance.

Generation runs its own decoding loop over the KV cache so that every request samples
from its own seeded ``torch.Generator``: the same seed gives the same text whatever
else shares the batch. Greedy decoding (temperature 0) is plain argmax, the same as
``model.generate(do_sample=False)``. Requests with the same prompt in one batch (the k
samples of a probe item) share one prefill: the prompt runs once and its KV cache is
copied to each sample's row.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from trustwatch.common.devices import pick_device, pick_dtype
from trustwatch.common.interrupt import check_interrupt
from trustwatch.common.model_specs import ResolvedModel, resolve_model
from trustwatch.common.offline import held_back_output
from trustwatch.common.requests import (
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    cut_at_stop,
)
from trustwatch.server.backends.prefix_packing import PackedRow, pack
from trustwatch.server.backends.tokenization import pair_tokens, render_prompt

T = TypeVar("T")
NUCLEUS_CANDIDATES = 2048
"""Tokens sorted first when sampling with top-p (the full vocabulary only if their mass is short)."""
PACK_NODES = 256
"""Most tokens a packed scoring row holds (prefix_packing.pack's ``max_nodes``). A row attends
through a dense 4D tree mask, whose cost grows with the square of the row's length. BBQ's Age
items share long template prefixes across items: uncapped, dozens of them joined rows of up to
1,845 tokens and scored 7.1 items/s; capped at 256, 14.5 (2.05x), and any one BBQ item's three
answers still share a row (``bench/bench_packing.py``, bench/README.md section 9)."""


@dataclass
class _Encoded:
    index: int
    tokens: list[int]
    """Model input: context and continuation less its last token (loglikelihood), or the prompt."""
    targets: list[int]
    """Continuation tokens to score (loglikelihood only)."""


class TransformersBackend:
    """Answers ``loglikelihood`` and ``generate`` requests with a transformers causal LM."""

    name = "transformers"

    def __init__(
        self,
        model: str | ResolvedModel,
        *,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int = 8,
        generate_batch_size: int = 32,
        max_length: int | None = None,
        chat_template: bool | None = None,
        threads: int | None = None,
        progress: bool = False,
    ) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        for name, size in (("batch_size", batch_size), ("generate_batch_size", generate_batch_size)):
            if size < 1:
                raise ValueError(f"{name} must be >= 1, got {size}")
        if threads:
            torch.set_num_threads(threads)
        self.resolved = model if isinstance(model, ResolvedModel) else resolve_model(model, progress=progress)
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        self.batch_size = batch_size
        """Rows per scoring forward."""
        self.generate_batch_size = generate_batch_size
        """Rows decoded together. Decoding reads every weight once per step whatever the rows, so
        on CPU it is bound by memory bandwidth and more rows come almost free (bench/README.md)."""
        self.progress = progress
        if not progress:
            hf_logging.disable_progress_bar()
        verbosity = hf_logging.get_verbosity()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.resolved.path, local_files_only=True)
            hf_logging.set_verbosity_error()
            with held_back_output():  # GPTQ folders load through gptqmodel, which prints to stdout
                self.model = AutoModelForCausalLM.from_pretrained(
                    self.resolved.path, local_files_only=True, dtype=self.dtype
                ).to(self.device)
        finally:
            hf_logging.set_verbosity(verbosity)
            hf_logging.enable_progress_bar()
        self.model.eval()
        config = self.model.config
        limits = [
            v
            for v in (max_length, getattr(config, "max_position_embeddings", None), self.tokenizer.model_max_length)
            if isinstance(v, int) and 0 < v < 10**9
        ]
        self.max_length = min(limits) if limits else 2048
        self.pack_nodes = min(self.max_length, PACK_NODES)
        self.chat_template = bool(self.tokenizer.chat_template) if chat_template is None else chat_template
        if self.chat_template and not self.tokenizer.chat_template:
            raise ValueError(f"chat_template=True, but the tokenizer of {self.resolved.spec!r} has none")
        self.pad_id = self._first_id(self.tokenizer.pad_token_id, self.tokenizer.eos_token_id, 0)
        self.prefix_id = self._first_id(self.tokenizer.bos_token_id, self.tokenizer.eos_token_id, 0)
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            eos_ids.add(self.tokenizer.eos_token_id)
        self.eos_ids = frozenset(eos_ids)
        forward = inspect.signature(self.model.forward).parameters
        self._keeps_logits = "logits_to_keep" in forward
        # transformers >= 5.24 names the KV cache `cache` (in and out); earlier 5.x `past_key_values`,
        # which 5.24 still takes with a FutureWarning on every forward
        self._cache_name = "cache" if "cache" in forward else "past_key_values"

    @staticmethod
    def _first_id(*candidates: int | None) -> int:
        return next(c for c in candidates if c is not None)

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def close(self) -> None:
        del self.model
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    # -- shared pieces -------------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def render_prompt(self, request: GenerateRequest) -> str:
        """The prompt as the model sees it: wrapped in the chat template when asked."""
        return render_prompt(self.tokenizer, request, self.chat_template, self.resolved.spec)

    def _batches(self, items: Sequence[T], length: Callable[[T], int], size: int, what: str) -> Iterator[list[T]]:
        """Batches of ``size``, longest first, so that a batch pads little."""
        from tqdm.auto import tqdm

        ordered = sorted(items, key=lambda item: -length(item))
        starts = range(0, len(ordered), size)
        for start in tqdm(starts, desc=what, unit="batch", disable=not self.progress or len(starts) < 2):
            check_interrupt()
            yield ordered[start : start + size]

    def _left_padded(self, rows: Sequence[list[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        return ids.to(self.device), mask.to(self.device), positions.to(self.device)

    def _forward(self, keep: int | torch.Tensor, **inputs: Any) -> Any:
        """The model's output with logits only at ``keep``: the last ``keep`` positions, or these indices."""
        if self._keeps_logits:
            return self.model(**inputs, logits_to_keep=keep)
        out = self.model(**inputs)
        out.logits = out.logits[:, -keep:, :] if isinstance(keep, int) else out.logits[:, keep, :]
        return out

    # -- loglikelihood -------------------------------------------------------------------------

    def _encode_pair(self, index: int, request: LoglikelihoodRequest) -> _Encoded:
        tokens, n = pair_tokens(self.encode, request, self.prefix_id)
        if n > self.max_length:
            raise ValueError(
                f"loglikelihood request {index}: continuation has {n} tokens, more than the model's {self.max_length}"
            )
        return _Encoded(index, tokens[-(self.max_length + 1) :][:-1], tokens[-n:])

    @torch.inference_mode()
    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        encoded = [self._encode_pair(i, r) for i, r in enumerate(requests)]
        results: list[LoglikelihoodResult | None] = [None] * len(encoded)
        rows = pack([e.tokens for e in encoded], max_nodes=self.pack_nodes)
        for batch in self._batches(rows, lambda row: len(row.tokens), self.batch_size, "loglikelihood"):
            width = max(len(row.tokens) for row in batch)
            ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
            for b, row in enumerate(batch):
                ids[b, : len(row.tokens)] = torch.tensor(row.tokens, dtype=torch.long)
            inputs: dict[str, Any] = {"input_ids": ids.to(self.device)}
            if any(row.shared for row in batch):
                inputs.update(self._tree_attention(batch, width))
            # Otherwise every row is one request, padded on the right, and no mask is passed:
            # under the causal mask a real token never sees the padding after it, and
            # attention takes its unmasked (is_causal) fast path.
            scored = [
                (b, index, path[len(path) - len(encoded[index].targets) :])
                for b, row in enumerate(batch)
                for index, path in row.members
            ]
            needed = sorted({node for _, _, nodes in scored for node in nodes})
            column = {node: j for j, node in enumerate(needed)}
            # no KV cache: nothing is decoded after this forward, and building one copies every layer's keys
            logits = self._forward(torch.tensor(needed, device=self.device), use_cache=False, **inputs).logits
            for b, index, nodes in scored:
                cols = torch.tensor([column[node] for node in nodes], device=logits.device)
                lp = torch.log_softmax(logits[b, cols, :].float(), dim=-1)
                target = torch.tensor(encoded[index].targets, device=lp.device)
                picked = lp.gather(-1, target[:, None]).squeeze(-1)
                greedy = bool((lp.argmax(-1) == target).all())
                results[index] = LoglikelihoodResult(float(picked.sum()), len(target), greedy)
        return [r for r in results if r is not None]

    def _tree_attention(self, batch: Sequence[PackedRow], width: int) -> dict[str, torch.Tensor]:
        """A 4D additive mask and position ids for rows that pack several requests as a trie."""
        allowed = torch.zeros((len(batch), 1, width, width), dtype=torch.bool)
        allowed[:, 0] = torch.eye(width, dtype=torch.bool)  # padding attends to itself: no empty softmax
        positions = torch.zeros((len(batch), width), dtype=torch.long)
        for b, row in enumerate(batch):
            size = len(row.tokens)
            allowed[b, 0, :size, :size] = torch.from_numpy(row.attends())
            positions[b, :size] = torch.tensor(row.depths, dtype=torch.long)
        dtype = self.model.dtype  # the activations' (a quantized folder may differ from self.dtype)
        mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(~allowed, torch.finfo(dtype).min)
        return {"attention_mask": mask.to(self.device), "position_ids": positions.to(self.device)}

    # -- generate ------------------------------------------------------------------------------

    @torch.inference_mode()
    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        encoded = []
        for i, request in enumerate(requests):
            prompt = self.encode(self.render_prompt(request)) or [self.prefix_id]
            room = self.max_length - request.max_new_tokens
            if room < 1:
                raise ValueError(
                    f"generate request {i}: max_new_tokens {request.max_new_tokens} leaves no room "
                    f"for the prompt within the model's {self.max_length} tokens"
                )
            encoded.append(_Encoded(i, prompt[-room:], []))
        results: list[GenerateResult | None] = [None] * len(encoded)
        for batch in self._batches(encoded, lambda e: len(e.tokens), self.generate_batch_size, "generate"):
            answers = self._generate_batch([requests[e.index] for e in batch], batch)
            for item, result in zip(batch, answers, strict=True):
                results[item.index] = result
        return [r for r in results if r is not None]

    def _generate_batch(self, requests: list[GenerateRequest], batch: list[_Encoded]) -> list[GenerateResult]:
        from transformers import DynamicCache

        ids, mask, positions = self._left_padded([e.tokens for e in batch])
        choosers = [_token_chooser(r) for r in requests]
        new_tokens: list[list[int]] = [[] for _ in requests]
        finished: list[GenerateResult | None] = [None] * len(requests)
        # The k samples of one prompt share their prompt: prefill each distinct prompt once,
        # then copy its KV cache and last logits to every row that asked for it.
        distinct: dict[tuple[int, ...], int] = {}
        copy_of = [distinct.setdefault(tuple(e.tokens), len(distinct)) for e in batch]
        shared = len(distinct) < len(batch)
        copies = torch.tensor(copy_of, device=self.device)
        firsts = torch.tensor([copy_of.index(j) for j in range(len(distinct))], device=self.device)
        cache = DynamicCache()
        step_ids = ids
        for step in range(max(r.max_new_tokens for r in requests)):
            check_interrupt()  # a draining service stops replay here, not after the whole batch
            take: torch.Tensor | slice = firsts if step == 0 and shared else slice(None)
            out = self._forward(
                1,
                input_ids=step_ids[take],
                attention_mask=mask[take],
                position_ids=positions[take],
                use_cache=True,
                **{self._cache_name: cache},
            )
            cache = getattr(out, self._cache_name)
            logits = out.logits[:, -1, :].float()
            if step == 0 and shared:
                cache.reorder_cache(copies)
                logits = logits[copies]
            chosen = []
            for row, request in enumerate(requests):
                if finished[row] is not None:
                    chosen.append(self.pad_id)
                    continue
                token = choosers[row](logits[row])
                chosen.append(token)
                new_tokens[row].append(token)
                finished[row] = self._finish(request, new_tokens[row])
            if all(f is not None for f in finished):
                break
            step_ids = torch.tensor(chosen, device=self.device)[:, None]
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=-1)
            positions = positions[:, -1:] + 1
        return [
            f if f is not None else self._finish(r, t, force=True)
            for f, r, t in zip(finished, requests, new_tokens, strict=True)
        ]

    def _finish(self, request: GenerateRequest, tokens: list[int], force: bool = False) -> GenerateResult | None:
        """The result once the row is done (EOS, a stop string, or max_new_tokens), else None."""
        if tokens and tokens[-1] in self.eos_ids:
            return GenerateResult(self.tokenizer.decode(tokens[:-1], skip_special_tokens=True), len(tokens), "stop")
        if request.stop:
            text, stopped = cut_at_stop(self.tokenizer.decode(tokens, skip_special_tokens=True), request.stop)
            if stopped:
                return GenerateResult(text, len(tokens), "stop")
        if force or len(tokens) >= request.max_new_tokens:
            return GenerateResult(self.tokenizer.decode(tokens, skip_special_tokens=True), len(tokens), "length")
        return None


def _token_chooser(request: GenerateRequest) -> Callable[[torch.Tensor], int]:
    """Greedy argmax at temperature 0; else nucleus sampling from the request's own seeded generator.

    A sample is drawn by an exponential race over token ids: every step draws one uniform number
    per vocabulary id from the generator, and the token is ``argmax p_i / -log(u_i)`` over the
    nucleus, which picks token ``i`` with probability ``p_i / sum(nucleus)`` (the exponential-clock
    form of the Gumbel-max trick). The numbers belong to the token ids, and each step draws the
    same count of them, so two variants given one seed share their random numbers: where their
    distributions barely differ they pick the same token (coupled sampling). A draw by rank within
    the sorted nucleus (``torch.multinomial``) gives a near-tied token another number whenever a
    variant reorders the tail: the embedded model's 8-bit RTN variant then matched the original
    on none of 64 toxicity samples, and on 26 with the race (``bench/bench_coupling.py``). The
    scheme's name, ``common.requests.TRANSFORMERS_SAMPLER``, is part of a generation probe's
    producer: change it with the draw.
    """
    if request.temperature == 0:
        return lambda logits: int(logits.argmax())
    generator = torch.Generator(device="cpu").manual_seed(request.seed)

    def sample(logits: torch.Tensor) -> int:
        probs = torch.softmax(logits.cpu().float() / request.temperature, dim=-1)
        uniforms = torch.rand(probs.shape, generator=generator)  # the whole vocabulary, every step
        if request.top_p >= 1.0:
            return int((probs / -torch.log(uniforms)).argmax())
        tokens, kept = nucleus(probs, request.top_p)
        return int(tokens[(kept / -torch.log(uniforms[tokens])).argmax()])

    return sample


def nucleus(probs: torch.Tensor, top_p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and probabilities of the top-p nucleus, most probable first: the smallest set
    of most probable tokens whose mass reaches ``top_p`` (Holtzman et al. 2020, "The Curious
    Case of Neural Text Degeneration", Sec. 3.1), i.e. every token the mass before which is
    below ``top_p``.

    The nucleus nearly always lies within the top two thousand tokens: those are sorted, and
    the whole vocabulary only when their mass falls short of ``top_p``.
    """
    top, order = probs.topk(min(NUCLEUS_CANDIDATES, probs.numel()))
    if float(top.sum()) < top_p:
        top, order = probs.sort(descending=True)
    keep = top.cumsum(-1) - top < top_p
    return order[keep], top[keep]
