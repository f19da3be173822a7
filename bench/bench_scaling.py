"""How a replay cycle's time and memory grow with variants and with items.

    python -m trustwatch.bench.bench_scaling             # model: 32 pairs x 1/2/4 variants; store+stats: 100/1k/10k
    python -m trustwatch.bench.bench_scaling --quick     # model: 2 pairs x 1/2 variants; store+stats: 20/100

Every configuration runs in a fresh subprocess, so its peak resident memory (``ru_maxrss``)
is its own; the traced Python peak (``tracemalloc``, numpy buffers included) of the cycle is
printed beside it.

- variants: 1, 2 and 4 variants, each its own ``TransformersBackend`` of the embedded model
  (float32 CPU), answer the same CrowS-Pairs items through ``ReplayEngine.run_slice``
  (render, backend, outcomes, SQLite store); then, when there is a candidate, the store's
  latest-round rows are read and gated (default policy, fixed mode): "read + gate s", what
  the service does after every cycle.
- items: 100, 1,000 and 10,000 synthetic CrowS-Pairs items, 2 variants whose backend answers
  with seeded random log-likelihoods at no model cost: the store and statistics path alone
  (render, outcomes, SQLite, OutcomeTable, gate) — the cost that remains once model time is
  paid. 10,000 model items would take hours on 2 cores; model cost per item is in the
  variants table (and grows linearly: every item is one batch share of forwards per variant).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trustwatch.bench.harness import EMBEDDED, PROBESETS, machine_line, peak_rss_mb, pin_threads, print_table
from trustwatch.common.requests import (
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)

BIAS_TYPES = ("race-color", "gender", "socioeconomic", "nationality", "religion", "age", "sexual-orientation",
              "physical-appearance", "disability")


class SyntheticBackend:
    """Seeded random log-likelihoods: a backend with no model cost, for the store and statistics path."""

    name = "synthetic"

    def __init__(self, seed: int) -> None:
        import numpy as np

        self.rng = np.random.default_rng(seed)

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        values = self.rng.normal(-60.0, 5.0, size=len(requests))
        return [LoglikelihoodResult(float(v), 20, False) for v in values]

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        raise NotImplementedError("the synthetic backend answers log-likelihoods only")

    def close(self) -> None:
        pass


def synthetic_items(n: int) -> list[Any]:
    from trustwatch.probes.items import Item

    return [
        Item(f"crows_pairs:syn{i}", "crows_pairs", BIAS_TYPES[i % len(BIAS_TYPES)],
             {"more": f"Sentence {i} a.", "less": f"Sentence {i} b.", "direction": "stereo"})
        for i in range(n)
    ]


def one_cycle(variants: int, items: int, synthetic: bool, threads: int) -> dict[str, float]:
    """One replay cycle (and the gate over its outcomes) in this process: seconds and memory."""
    from trustwatch.monitors.gate import evaluate_gate
    from trustwatch.monitors.outcomes import OutcomeTable
    from trustwatch.monitors.policy import load_policy
    from trustwatch.probes.loaders import LOADERS
    from trustwatch.server.config import VariantConfig
    from trustwatch.server.replay import ReplayEngine
    from trustwatch.server.store import Store
    from trustwatch.server.variants import Variant

    pin_threads(threads)
    names = ["original"] + [f"candidate{i}" for i in range(1, variants)]
    backends: list[Any]
    if synthetic:
        backends = [SyntheticBackend(i) for i in range(variants)]
        probe_items = synthetic_items(items)
    else:
        from trustwatch.server.backends.transformers_backend import TransformersBackend

        backends = [TransformersBackend(EMBEDDED, device="cpu", dtype="float32") for _ in names]
        probe_items = LOADERS["crows_pairs"].load(PROBESETS / "crows_pairs", limit=items, seed=0)
        for backend in backends:  # warm-up, outside the timed cycle
            backend.loglikelihood([LoglikelihoodRequest("", "A warm-up sentence.")])
    loaded_mb = peak_rss_mb()
    with tempfile.TemporaryDirectory(prefix="bench_scaling_") as tmp:
        store = Store(Path(tmp) / "outcomes.sqlite")
        variant_list = [
            Variant(VariantConfig(name=name, model=EMBEDDED), state="ready", backend=backend)
            for name, backend in zip(names, backends, strict=True)
        ]
        engine = ReplayEngine(store, scorer=None)
        tracemalloc.start()
        start = time.perf_counter()
        result = engine.run_slice(variant_list, probe_items, 0)
        cycle = time.perf_counter() - start
        _, cycle_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        start = time.perf_counter()
        if variants > 1:
            table = OutcomeTable.from_rows(store.outcome_rows())
            evaluate_gate(table, load_policy(None), "fixed")
        stats = time.perf_counter() - start if variants > 1 else float("nan")  # no candidate to gate
        _, stats_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        store.close()
    if result.errors:
        raise RuntimeError(f"replay errors: {result.errors}")
    return {"cycle_s": cycle, "stats_s": stats, "traced_cycle_mb": cycle_peak / 2**20,
            "traced_stats_mb": stats_peak / 2**20, "loaded_rss_mb": loaded_mb, "peak_rss_mb": peak_rss_mb(),
            "answered": result.items}


def in_subprocess(variants: int, items: int, synthetic: bool, threads: int) -> dict[str, float]:
    command = [sys.executable, "-m", "trustwatch.bench.bench_scaling", "--one", str(variants), str(items),
               "synthetic" if synthetic else "model", "--threads", str(threads)]
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=os.environ.copy())
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-items", type=int, default=32, help="CrowS-Pairs pairs in the variants table")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--one", nargs=3, metavar=("VARIANTS", "ITEMS", "KIND"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ.setdefault("TRUSTWATCH_CACHE", str(Path(__file__).resolve().parents[1] / ".cache" / "trustwatch"))
    if args.one:
        variants, items, kind = int(args.one[0]), int(args.one[1]), args.one[2]
        print(json.dumps(one_cycle(variants, items, kind == "synthetic", args.threads)))
        return
    variant_counts, item_counts = ((1, 2), (20, 100)) if args.quick else ((1, 2, 4), (100, 1000, 10000))
    model_items = 2 if args.quick else args.model_items
    pin_threads(args.threads)
    print(machine_line())

    rows = []
    base: dict[str, float] | None = None
    for n in variant_counts:
        r = in_subprocess(n, model_items, False, args.threads)
        base = base or r
        rows.append([n, model_items, r["answered"], r["cycle_s"], r["cycle_s"] / base["cycle_s"],
                     r["cycle_s"] / r["answered"], r["stats_s"], r["loaded_rss_mb"], r["peak_rss_mb"],
                     r["traced_cycle_mb"]])
    print_table(
        f"Replay cycle vs variants: {EMBEDDED} float32 CPU, {args.threads} threads, {model_items} CrowS-Pairs "
        "pairs per variant; ratio vs 1 variant",
        ["variants", "items", "answers", "cycle s", "ratio", "s per answer", "read + gate s", "RSS loaded MB",
         "RSS peak MB", "traced cycle MB"],
        rows,
    )

    rows = []
    base = None
    for n in item_counts:
        r = in_subprocess(2, n, True, args.threads)
        base = base or r
        rows.append([n, r["cycle_s"], r["cycle_s"] / base["cycle_s"], 1e3 * r["cycle_s"] / r["answered"],
                     r["stats_s"], r["stats_s"] / max(base["stats_s"], 1e-9), r["peak_rss_mb"],
                     r["traced_cycle_mb"], r["traced_stats_mb"]])
    print_table(
        "Store + statistics path vs items: 2 variants, synthetic CrowS-Pairs items and log-likelihoods (no model); "
        f"ratio vs {item_counts[0]} items",
        ["items", "cycle s", "cycle ratio", "ms per answer", "read + gate s", "gate ratio", "RSS peak MB",
         "traced cycle MB", "traced gate MB"],
        rows,
    )


if __name__ == "__main__":
    main()
