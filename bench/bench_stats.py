"""Benchmark of the paired statistics on 100k paired items per variant: time and peak memory.

    python -m trustwatch.bench.bench_stats                         # speed table
    python -m trustwatch.bench.bench_stats --calibration           # the gate's calibration (about 25 min)
    python -m trustwatch.bench.bench_stats --calibration --quick   # the same, few simulations (a smoke test)

The calibration prints the FAIL rates with no true difference (tolerance boundary, peeking) and
with a planted degradation; the default policy's PASS rate at the sizes of ../shared/probesets,
per rule (monitors/README.md, "PASS power at public sizes"), the PASS rate with one row at its
tolerance and the detection of a +0.10 shift in one BBQ category; sequential ``items_needed``
against the items actually needed; and interval coverage at 10, 25 and 150 clusters.

Each row times one computation (best of ``--repeat`` runs) and its peak traced memory
(tracemalloc, which sees numpy's buffers). Ratios are against the named baseline of the same
task: a naive per-resample Python loop (numpy indexing, one replicate per iteration), and
``scipy.stats.bootstrap`` (paired, vectorised, percentile, batched to fit memory).
"""

from __future__ import annotations

import argparse
import math
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from trustwatch.monitors import bootstrap, sequential
from trustwatch.monitors.divergence import divergence
from trustwatch.monitors.intervals import PairedCounts, mcnemar_exact, newcombe_paired, z_of
from trustwatch.monitors.outcomes import OutcomeTable


@dataclass
class Result:
    task: str
    method: str
    seconds: float
    peak_mb: float
    baseline: str | None = None


def measure(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Best wall time of ``repeat`` runs and the peak traced memory of one run (MB)."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return best, peak / 2**20


def paired_data(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    latent = rng.beta(2, 5, size=n)
    tokens = rng.integers(20, 200, size=n).astype(float)
    per_token = rng.normal(2.0, 0.3, size=n)
    return {
        "base": np.clip(latent + rng.normal(0, 0.05, n), 0, 1),
        "cand": np.clip(latent + 0.01 + rng.normal(0, 0.05, n), 0, 1),
        "base_bin": (rng.random(n) < latent).astype(float),
        "cand_bin": (rng.random(n) < latent + 0.01).astype(float),
        "tokens": tokens,
        "nll_base": tokens * per_token,
        "nll_cand": tokens * (per_token + rng.normal(0.05, 0.05, n)),
    }


def bench_mean(data: dict[str, np.ndarray], resamples: int, repeat: int) -> list[Result]:
    base, cand = data["base"], data["cand"]
    n = base.size
    units = np.column_stack([base, cand, np.ones(n)])

    def ours() -> tuple[float, float]:
        sums = bootstrap.bootstrap_sums(units, resamples, np.random.default_rng(0))
        diffs = (sums[:, 1] - sums[:, 0]) / sums[:, 2]
        low, high = np.quantile(diffs, [0.025, 0.975])
        return float(low), float(high)

    def naive() -> tuple[float, float]:
        rng = np.random.default_rng(0)
        diffs = []
        for _ in range(resamples):
            index = rng.integers(0, n, size=n)
            diffs.append(cand[index].mean() - base[index].mean())
        low, high = np.quantile(diffs, [0.025, 0.975])
        return float(low), float(high)

    def scipy_bootstrap() -> tuple[float, float]:
        def statistic(b: np.ndarray, c: np.ndarray, axis: int = -1) -> np.ndarray:
            return np.mean(c, axis=axis) - np.mean(b, axis=axis)

        result = stats.bootstrap(
            (base, cand),
            statistic,
            paired=True,
            vectorized=True,
            n_resamples=resamples,
            batch=max(1, 4_000_000 // n),
            method="percentile",
            random_state=0,
        )
        return float(result.confidence_interval.low), float(result.confidence_interval.high)

    task = f"mean difference, paired bootstrap B={resamples}"
    out = []
    for method, fn, baseline in (
        ("naive per-resample loop", naive, None),
        ("scipy.stats.bootstrap (paired, vectorized)", scipy_bootstrap, "naive per-resample loop"),
        ("trustwatch bootstrap_sums", ours, "naive per-resample loop"),
    ):
        seconds, peak = measure(fn, repeat)
        out.append(Result(task, method, seconds, peak, baseline))
    return out


def bench_ratio(data: dict[str, np.ndarray], resamples: int, repeat: int) -> list[Result]:
    tokens, nll_b, nll_c = data["tokens"], data["nll_base"], data["nll_cand"]
    n = tokens.size
    units = np.column_stack([nll_b, nll_c, tokens])

    def ours() -> np.ndarray:
        sums = bootstrap.bootstrap_sums(units, resamples, np.random.default_rng(0))
        return np.exp(sums[:, 1] / sums[:, 2]) / np.exp(sums[:, 0] / sums[:, 2])

    def naive() -> list[float]:
        rng = np.random.default_rng(0)
        out = []
        for _ in range(resamples):
            index = rng.integers(0, n, size=n)
            t = tokens[index].sum()
            out.append(math.exp(nll_c[index].sum() / t) / math.exp(nll_b[index].sum() / t))
        return out

    task = f"perplexity ratio (item-level sums), B={resamples}"
    return [
        Result(task, "naive per-resample loop", *measure(naive, repeat)),
        Result(task, "trustwatch bootstrap_sums", *measure(ours, repeat), "naive per-resample loop"),
    ]


def bench_closed_forms(data: dict[str, np.ndarray], repeat: int) -> list[Result]:
    b, c = data["base_bin"], data["cand_bin"]
    n = b.size

    def newcombe_mcnemar() -> tuple[float, float, float]:
        both = int(np.count_nonzero((b == 1) & (c == 1)))
        up = int(np.count_nonzero((b == 0) & (c == 1)))
        down = int(np.count_nonzero((b == 1) & (c == 0)))
        low, high = newcombe_paired(PairedCounts(both, up, down, n - both - up - down), z_of(0.05))
        return low, high, mcnemar_exact(up, down)

    units = np.column_stack([data["base"], data["cand"], np.ones(n)])

    def confidence_sequence() -> float:
        psi = sequential.influence(units, lambda s: (s[..., 1] - s[..., 0]) / s[..., 2])
        return float(np.std(psi, ddof=1) * sequential.radius(n, 0.05, sequential.mixture_rho(0.05, 1000)))

    return [
        Result(
            "binary: Newcombe interval + exact McNemar",
            "trustwatch intervals",
            *measure(newcombe_mcnemar, repeat),
        ),
        Result(
            "confidence sequence (delta-method influence)",
            "trustwatch sequential",
            *measure(confidence_sequence, repeat),
        ),
    ]


def bench_table(data: dict[str, np.ndarray], resamples: int, repeat: int) -> list[Result]:
    n = data["base"].size
    groups = np.array(["a", "b", "c", "d"], dtype=object)[np.arange(n) % 4]
    rows = []
    for variant, suffix in (("original", "base"), ("q4", "cand")):
        columns = {"max_toxicity": data[suffix], "toxic": data[f"{suffix}_bin"]}
        for metric, values in columns.items():
            rows += [
                {
                    "item_id": i,
                    "variant": variant,
                    "probe": "toxicity",
                    "group": groups[i],
                    "metric": metric,
                    "value": float(values[i]),
                }
                for i in range(n)
            ]
        for metric, values in (("nll", data[f"nll_{suffix}"]), ("tokens", data["tokens"])):
            rows += [
                {
                    "item_id": i,
                    "variant": variant,
                    "probe": "perplexity",
                    "group": groups[i],
                    "metric": metric,
                    "value": float(values[i]),
                }
                for i in range(n)
            ]
    table_holder: list[OutcomeTable] = []

    def build() -> None:
        table_holder[:] = [OutcomeTable.from_rows(rows)]

    build_time = measure(build, 1)
    table = table_holder[0]
    task = f"divergence(): 3 metrics x (overall + 4 groups), {len(rows):,} rows"
    fixed = measure(lambda: divergence(table, "original", "q4", resamples=resamples), repeat)
    seq = measure(lambda: divergence(table, "original", "q4", mode="sequential"), repeat)
    return [
        Result(f"OutcomeTable.from_rows, {len(rows):,} rows", "trustwatch outcomes", *build_time),
        Result(task, f"fixed (bootstrap B={resamples} / Newcombe)", *fixed),
        Result(task, "sequential (confidence sequences)", *seq),
    ]


def print_results(results: list[Result]) -> None:
    by_method = {(r.task, r.method): r for r in results}
    header = f"{'task':<58} {'method':<44} {'seconds':>9} {'peak MB':>9} {'speed-up':>9}  vs"
    print(header)
    print("-" * len(header))
    for r in results:
        ratio, against = "", ""
        if r.baseline is not None:
            reference = by_method[(r.task, r.baseline)]
            ratio, against = f"{reference.seconds / r.seconds:.1f}x", r.baseline
        print(f"{r.task:<58} {r.method:<44} {r.seconds:>9.3f} {r.peak_mb:>9.1f} {ratio:>9}  {against}")


def calibration(simulations: int) -> None:
    from trustwatch.monitors.simulate import gate_fail_rate

    print(f"\nGate FAIL rates over {simulations} seeded simulations (continuous score + 0/1 flag, 4 groups,")
    print(
        "10 rows per verdict, BH at 0.05; 'no difference' puts every row on its null boundary: tolerance 0)"
    )
    cases = [
        ("no difference, tolerance 0", dict(n_items=400), "fixed", 1),
        ("no difference, tolerance 0", dict(n_items=400), "sequential", 1),
        ("no difference, tolerance 0, peek every 100 items", dict(n_items=1000), "fixed", 10),
        ("no difference, tolerance 0, peek every 100 items", dict(n_items=1000), "sequential", 10),
        ("shift 0.04 = 2 x tolerance 0.02", dict(n_items=2000, shift=0.04, tolerance=0.02), "fixed", 1),
        (
            "shift 0.04 = 2 x tolerance 0.02, peek every 500 items",
            dict(n_items=2000, shift=0.04, tolerance=0.02),
            "sequential",
            4,
        ),
    ]
    print(f"{'case':<56} {'mode':<11} {'items':>6} {'FAIL rate':>10}")
    for seed, (label, kwargs, mode, looks) in enumerate(cases):
        rate = gate_fail_rate(simulations, mode=mode, looks=looks, seed=100 + seed, **kwargs)  # type: ignore[arg-type]
        print(f"{label:<56} {mode:<11} {kwargs['n_items']:>6} {rate:>10.3f}")


def public_sizes(simulations: int, shifted: int, seed: int = 300) -> None:
    """PASS power, the tolerance boundary and detection, at the sizes of ../shared/probesets."""
    from trustwatch.monitors.policy import load_policy
    from trustwatch.monitors.simulate import NoShift, public_power

    policy = load_policy(None)
    noise = NoShift()
    tolerance = {rule.key: rule.tolerance for rule in policy.rules}
    print(
        f"\nDefault policy at public sizes (monitors.simulate.PUBLIC_SIZES), {simulations} no-shift candidates "
        f"(redrawn: {noise.likelihood:.0%} of likelihood answers, {noise.generation:.0%} of generated samples)"
    )
    power = public_power(simulations, policy, noise=noise, seed=seed)
    print(
        f"fixed:      PASS {power.rate('PASS'):.3f}  INCONCLUSIVE {power.rate('INCONCLUSIVE'):.3f}  "
        f"FAIL {power.rate('FAIL'):.3f}   (targets: PASS >= 0.80, FAIL 0)"
    )
    print(f"{'rule':<38} {'tolerance':>9} {'rows':>5} {'smallest':>9} {'flip rate':>9} {'half-width':>10} {'P(pass)':>8}")
    for rule in power.rules:
        flip = "-" if rule.flip_rate is None else f"{rule.flip_rate:.4f}"
        print(
            f"{rule.rule:<38} {rule.tolerance:>9g} {rule.rows:>5} {rule.min_items:>9} {flip:>9} "
            f"{rule.half_width:>10.4f} {rule.passed:>8.3f}"
        )
    sequential_power = public_power(simulations, policy, noise=noise, mode="sequential", seed=seed + 1)
    print(
        f"sequential: PASS {sequential_power.rate('PASS'):.3f}  INCONCLUSIVE "
        f"{sequential_power.rate('INCONCLUSIVE'):.3f}  FAIL {sequential_power.rate('FAIL'):.3f}"
    )
    cases = [
        ("at tolerance: bbq/bias_score_disambig, Age (largest)", ("bbq", "bias_score_disambig", "Age"), None),
        ("at tolerance: crows_pairs/stereotype_score, race-color", ("crows_pairs", "stereotype_score", "race-color"), None),
        ("+0.10: bbq/bias_score_disambig, Age (largest)", ("bbq", "bias_score_disambig", "Age"), 0.10),
        ("+0.10: bbq/bias_score_disambig, Sexual_orientation", ("bbq", "bias_score_disambig", "Sexual_orientation"), 0.10),
    ]
    print(f"\nPlanted shifts, {shifted} candidates each (targets: PASS <= 0.05 at the tolerance boundary)")
    print(f"{'case':<58} {'PASS':>6} {'FAIL':>6}")
    for number, (label, key, amount) in enumerate(cases):
        delta = tolerance[f"{key[0]}/{key[1]}"] if amount is None else amount
        result = public_power(shifted, policy, noise=noise, shift={key: delta}, seed=seed + 10 + number)
        print(f"{label:<58} {result.rate('PASS'):>6.3f} {result.rate('FAIL'):>6.3f}")


def items_needed_check(simulations: int) -> None:
    from trustwatch.monitors.simulate import sequential_items_needed

    runs = sequential_items_needed(simulations, seed=400)
    done = [r for r in runs if r.actual is not None]
    predicted = np.array([r.predicted for r in done], dtype=float)
    actual = np.array([r.actual for r in done], dtype=float)
    print(
        f"\nSequential items_needed ({simulations} no-shift runs, continuous score sd 0.14 per pair, tolerance 0.03, "
        f"4 groups, first look at {runs[0].first_look} items per group, then every 25)"
    )
    if done:
        print(
            f"items per group to PASS: actual median {np.median(actual):.0f} (mean {actual.mean():.0f}); "
            f"first-look prediction median {np.median(predicted):.0f}; actual <= predicted in "
            f"{np.mean(actual <= predicted):.0%} of runs; {len(runs) - len(done)} runs did not PASS"
        )


def coverage_table(simulations: int, resamples: int) -> None:
    from trustwatch.monitors.simulate import cluster_coverage

    print(
        f"\nCoverage of bias_score_disambig intervals (nominal 95%, B={resamples}), one BBQ-like category, "
        "shift 0.1 that varies by template"
    )
    print(f"{'clusters':>8} {'runs':>5} {'miss (gate)':>12} {'miss (percentile)':>18} {'mean width':>11}")
    for clusters, share in ((10, 1.0), (25, 1.0), (150, 0.4)):
        runs = max(10, int(simulations * share))
        result = cluster_coverage(clusters, runs, resamples=resamples, seed=500 + clusters)
        print(
            f"{clusters:>8} {runs:>5} {result.miss:>12.3f} {result.miss_percentile:>18.3f} {result.width:>11.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--items", type=int, default=100_000, help="paired items per variant (default 100000)"
    )
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap replicates (default 2000)")
    parser.add_argument(
        "--repeat", type=int, default=2, help="timed runs per row; the best is shown (default 2)"
    )
    parser.add_argument(
        "--calibration",
        action="store_true",
        help="measure the gate instead: FAIL rates, PASS power at public sizes, items_needed, coverage",
    )
    parser.add_argument("--simulations", type=int, default=400, help="simulations per FAIL-rate case")
    parser.add_argument(
        "--power-simulations", type=int, default=100, help="no-shift candidates at public sizes (default 100)"
    )
    parser.add_argument(
        "--coverage-simulations", type=int, default=1000, help="intervals per coverage row (150 clusters: 40%%)"
    )
    parser.add_argument("--quick", action="store_true", help="calibration with few simulations (a smoke test)")
    args = parser.parse_args()
    if args.calibration:
        if args.quick:
            args.simulations, args.power_simulations, args.coverage_simulations = 20, 2, 25
        start = time.perf_counter()
        calibration(args.simulations)
        public_sizes(args.power_simulations, max(1, args.power_simulations // 2))
        items_needed_check(max(2, args.power_simulations // 2))
        coverage_table(args.coverage_simulations, 1000 if args.quick else args.resamples)
        print(f"\ncalibration took {time.perf_counter() - start:.0f} s")
        return
    data = paired_data(args.items, seed=0)
    print(f"{args.items:,} paired items per variant; numpy {np.__version__}\n")
    results = bench_mean(data, args.resamples, args.repeat)
    results += bench_ratio(data, args.resamples, args.repeat)
    results += bench_closed_forms(data, args.repeat)
    results += bench_table(data, args.resamples, 1)
    print_results(results)


if __name__ == "__main__":
    main()
