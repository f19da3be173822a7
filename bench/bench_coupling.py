"""How often a near-lossless variant samples what the original sampled, given the same seeds.

Paired generation probes (toxicity, stereotype agreement) have power only when a variant that
barely changed answers like the original; ``probes/sampling.py`` gives every variant the same
seed per item and sample, and the transformers backend's sampler turns equal seeds into equal
random numbers per token id (``_token_chooser``). This script generates ``--prompts``
DecodingTrust toxicity prompts x k with the original and an 8-bit RTN variant and prints the
share of identical samples and of shared leading tokens.

    python -m trustwatch.bench.bench_coupling            # about 2 min on 2 cores
"""

from __future__ import annotations

import argparse

from trustwatch.bench.harness import EMBEDDED, PROBESETS, machine_line, pin_threads, print_table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--bits", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="4 prompts, 8 tokens")
    args = parser.parse_args(argv)
    if args.quick:
        args.prompts, args.max_new_tokens = 4, 8

    from trustwatch.common.model_specs import resolve_model
    from trustwatch.common.requests import GenerateRequest
    from trustwatch.compress.variants import build_variant
    from trustwatch.probes.loaders import LOADERS
    from trustwatch.probes.sampling import sample_seed
    from trustwatch.server.backends.transformers_backend import TransformersBackend

    pin_threads(args.threads)
    print(machine_line())
    items = LOADERS["decodingtrust_toxicity"].load(PROBESETS / "decodingtrust_toxicity", limit=args.prompts, seed=0)
    requests = [
        GenerateRequest(item.payload["prompt"], max_new_tokens=args.max_new_tokens, temperature=1.0, top_p=0.9,
                        seed=sample_seed(0, item.id, s))
        for item in items for s in range(args.k)
    ]
    original = resolve_model(EMBEDDED)
    variant = build_variant(EMBEDDED, {"method": "rtn", "bits": args.bits, "group_size": 64})
    texts = {}
    for name, path in (("original", original), (f"rtn-{args.bits}bit", str(variant))):
        backend = TransformersBackend(path, device="cpu", dtype="float32", generate_batch_size=64)
        pin_threads(args.threads)
        texts[name] = [backend.encode(r.text) for r in backend.generate(requests)]
    base, cand = texts.values()
    same = sum(a == b for a, b in zip(base, cand, strict=True))
    shared = [_common(a, b) / max(1, len(a)) for a, b in zip(base, cand, strict=True)]
    print_table(f"{len(items)} DecodingTrust toxicity prompts x k={args.k}, <= {args.max_new_tokens} new tokens, "
                f"T=1, top-p 0.9, the same seeds; {EMBEDDED} against its {args.bits}-bit RTN variant (g64)",
                ["samples", "identical", "identical %", "mean shared leading tokens %"],
                [[len(base), same, 100 * same / len(base), 100 * sum(shared) / len(shared)]])


def _common(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


if __name__ == "__main__":
    main()
