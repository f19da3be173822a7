"""How long a packed scoring row may grow: items/s at each row cap, on the items that pack most.

``TransformersBackend.loglikelihood`` lays requests that share a prefix out as one token trie
per row (``server/backends/prefix_packing.py``), attended through a dense 4D tree mask whose
cost grows with the square of the row's length. BBQ's templated contexts share long prefixes
*across* items (the Age category above all), so without a cap dozens of items join one row.
This script scores the same items through ``ReplayEngine.run_slice`` with the row cap at
each size of ``--caps`` and prints items/s against the uncapped row (the former behaviour, the
named peer) and trustwatch's ``PACK_NODES``; the answers must agree to float tolerance.

    python -m trustwatch.bench.bench_packing            # about 3 min on 2 cores
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trustwatch.bench.harness import EMBEDDED, PROBESETS, interleaved, machine_line, pin_threads, print_table

UNCAPPED = 1 << 30


def item_sets(limit: int) -> dict[str, list[Any]]:
    from trustwatch.probes.loaders import LOADERS

    bbq = LOADERS["bbq"].load(PROBESETS / "bbq")
    return {
        f"BBQ Age, first {limit} items in file order": bbq[:limit],
        f"BBQ, {limit} drawn over categories (seed 0)": LOADERS["bbq"].load(PROBESETS / "bbq", limit=limit, seed=0),
        f"CrowS-Pairs, {limit} drawn (seed 0)": LOADERS["crows_pairs"].load(PROBESETS / "crows_pairs", limit=limit,
                                                                          seed=0),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=256, help="items per set (default: %(default)s)")
    parser.add_argument("--caps", default="128,256,512", help="row caps to time besides uncapped")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="12 items per set, caps 128 and PACK_NODES")
    args = parser.parse_args(argv)
    if args.quick:
        args.limit, args.caps = 12, "128"

    from trustwatch.bench.bench_likelihood import trustwatch_run
    from trustwatch.common.model_specs import resolve_model
    from trustwatch.server.backends import transformers_backend
    from trustwatch.server.backends.transformers_backend import PACK_NODES, TransformersBackend

    # The rows the backend actually forwards (it packs each call's requests as the engine hands them).
    packed: list[int] = []
    real_pack = transformers_backend.pack

    def counting_pack(sequences: Any, max_nodes: int, min_shared: int = 2) -> Any:
        rows = real_pack(sequences, max_nodes, min_shared)
        packed.extend(len(row.tokens) for row in rows)
        return rows

    transformers_backend.pack = counting_pack  # type: ignore[assignment]

    pin_threads(args.threads)
    print(machine_line())
    backend = TransformersBackend(resolve_model(EMBEDDED), device="cpu", dtype="float32", batch_size=8)
    pin_threads(args.threads)
    caps = [UNCAPPED, *sorted({int(c) for c in args.caps.split(",")} | {PACK_NODES})]

    def name(cap: int) -> str:
        if cap == UNCAPPED:
            return f"uncapped (the model's {backend.max_length}; baseline)"
        return f"{cap} tokens" + (" (PACK_NODES)" if cap == PACK_NODES else "")

    with tempfile.TemporaryDirectory(prefix="bench_packing_") as tmp:
        for title, items in item_sets(args.limit).items():
            def at(cap: int, subset: list[Any] = items) -> Callable[[], list[Any]]:
                def go() -> list[Any]:
                    backend.pack_nodes = min(cap, backend.max_length)
                    packed.clear()
                    answers = trustwatch_run(backend, subset, Path(tmp), f"cap{cap}")
                    return [answers, list(packed)]
                return go

            at(PACK_NODES, items[:16])()  # warm-up
            runs = interleaved({name(cap): at(cap) for cap in caps}, args.repeats)
            (base_answers, _), base_times = runs[name(UNCAPPED)]
            base_rate = len(items) / sorted(base_times)[len(base_times) // 2]
            rows = []
            for cap in caps:
                (answers, lengths), times = runs[name(cap)]
                seconds = sorted(times)[len(times) // 2]
                differing = sum(_differs(a, b) for a, b in zip(base_answers, answers, strict=True))
                rows.append([name(cap), len(items), seconds, len(items) / seconds,
                             len(items) / seconds / base_rate, len(lengths), max(lengths), differing])
            print_table(f"{title}: {EMBEDDED}, float32 CPU, {args.threads} threads, batch 8; median of "
                        f"{args.repeats}; ratio vs uncapped rows",
                        ["row cap", "items", "seconds", "items/s", "ratio", "rows", "longest row", "items differing"],
                        rows)
    backend.pack_nodes = min(PACK_NODES, backend.max_length)


def _differs(a: Any, b: Any) -> bool:
    """Two items' answers differ beyond float tolerance (CrowS: the preferred sentence; BBQ: any value)."""
    if isinstance(a, float):
        return a != b
    return any(ka != kb or abs(va - vb) > 1e-3 for (ka, va), (kb, vb) in zip(a, b, strict=True))


if __name__ == "__main__":
    main()
