"""Detection cost: how many items per group the gate needs to FAIL a planted degradation.

    python -m trustwatch.bench.bench_detection            # 30 simulations per case
    python -m trustwatch.bench.bench_detection --quick    # 3 simulations, short grid

Simulation only (``trustwatch.monitors.simulate``: paired outcomes with a latent level per
item shared by both variants), no model. One rule (worse: higher, tolerance ``--tolerance``,
4 groups, every group counted, ``min_items`` 20); the candidate's outcome is shifted in one
group by the tolerance plus one tolerance ("1 tol over") or plus two ("2 tol over"): a
degradation the gate must FAIL. Items per group grow along a grid (the same draws, in order).

- sequential mode (confidence sequences, valid at every look): the gate looks at every grid
  point; a simulation's cost is the first look that FAILs. Median over simulations.
- fixed mode (bootstrap / Newcombe, one look): looking repeatedly is not allowed, so its cost
  is the smallest grid size at which at least half the simulations FAIL when the gate looks
  once at that size (the median of a fixed design).
">max" means not reached within the grid.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

from trustwatch.bench.harness import print_table, timed
from trustwatch.monitors.gate import evaluate_gate
from trustwatch.monitors.outcomes import OutcomeTable
from trustwatch.monitors.policy import Policy, policy_from_dict
from trustwatch.monitors.simulate import Kind, simulate_rows

GROUPS = ("a", "b", "c", "d")
GRID = (25, 50, 75, 100, 150, 200, 300, 400, 600, 800, 1200, 1600, 2400, 3200)


def policy(kind: Kind, tolerance: float, resamples: int) -> Policy:
    metric = "score" if kind == "continuous" else "flag"
    rule = {"probe": "sim", "metric": metric, "worse": "higher", "tolerance": tolerance, "min_items": 20}
    return policy_from_dict({"baseline": "original", "resamples": resamples, "rules": [rule]}, "<detection>")


def fails_along_grid(
    kind: Kind, shift: float, grid: Sequence[int], rule: Policy, rng: np.random.Generator
) -> dict[str, list[bool]]:
    """For one simulation: whether each mode's gate FAILs at each grid size (items per group)."""
    n_total = grid[-1] * len(GROUPS)
    rows = simulate_rows(n_total, rng, metric="score" if kind == "continuous" else "flag", kind=kind,
                         groups=GROUPS, shift={"a": shift})
    out: dict[str, list[bool]] = {"fixed": [], "sequential": []}
    for per_group in grid:
        limit = per_group * len(GROUPS)
        table = OutcomeTable.from_rows(r for r in rows if r["item_id"] < limit)
        for mode in ("fixed", "sequential"):
            out[mode].append(evaluate_gate(table, rule, mode)[0].verdict == "FAIL")  # type: ignore[arg-type]
    return out


def detection_case(
    kind: Kind, tolerance: float, over: int, simulations: int, grid: Sequence[int], resamples: int, seed: int
) -> tuple[float | None, float | None]:
    """Items per group to FAIL: (fixed design median, sequential median stopping size)."""
    rng = np.random.default_rng(seed)
    rule = policy(kind, tolerance, resamples)
    shift = tolerance * (1 + over)
    runs = [fails_along_grid(kind, shift, grid, rule, rng) for _ in range(simulations)]
    fixed = next((n for i, n in enumerate(grid) if sum(r["fixed"][i] for r in runs) * 2 >= simulations), None)
    stops = [next((n for i, n in enumerate(grid) if r["sequential"][i]), float("inf")) for r in runs]
    median = statistics.median(stops)
    return fixed, (None if median == float("inf") else median)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--simulations", type=int, default=30)
    parser.add_argument("--tolerance", type=float, default=0.05, help="the rule's tolerance (both kinds)")
    parser.add_argument("--resamples", type=int, default=500, help="bootstrap replicates (fixed mode)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="3 simulations, grid up to 100: a smoke run")
    args = parser.parse_args(argv)
    grid = GRID[:4] if args.quick else GRID
    if args.quick:
        args.simulations, args.resamples = 3, 100

    def cell(value: float | None) -> Any:
        return f">{grid[-1]}" if value is None else int(value)

    rows = []
    for kind in ("continuous", "binary"):
        for over in (1, 2):
            (fixed, seq), seconds = timed(
                lambda kind=kind, over=over: detection_case(
                    kind, args.tolerance, over, args.simulations, grid, args.resamples, args.seed + over  # type: ignore[arg-type]
                )
            )
            ratio = (seq / fixed) if fixed and seq else None
            rows.append([kind, f"{over} tol over", args.tolerance * (1 + over), cell(fixed), cell(seq), ratio,
                         seconds])
    print_table(
        f"Items per group to FAIL (median; {args.simulations} simulations per case, tolerance "
        f"{args.tolerance}, degradation planted in 1 of 4 groups; ratio: sequential / fixed)",
        ["outcome", "degradation", "shift", "fixed (baseline)", "sequential", "ratio", "seconds"],
        rows,
    )


if __name__ == "__main__":
    main()
