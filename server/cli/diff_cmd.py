"""``trustwatch diff``: the paired divergence table of every candidate against the baseline."""

from __future__ import annotations

import argparse

from trustwatch.server.cli.common import CliError, emit
from trustwatch.server.cli.gate_cmd import (
    EXIT_BAD_INPUT,
    add_source_arguments,
    exit_3_on_usage_errors,
    load_table,
)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "diff",
        parents=[common],
        help="paired divergence of every candidate against the baseline, per probe, metric and group",
        description="Print candidate - baseline per probe, metric and group, signed so that positive is "
        "worse, with intervals (bootstrap, Newcombe with McNemar for binary outcomes, or confidence sequences).",
    )
    add_source_arguments(parser)
    parser.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    parser.add_argument(
        "--mode",
        choices=("fixed", "sequential"),
        default="fixed",
        help="fixed: bootstrap / Newcombe; sequential: confidence sequences",
    )
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap replicates (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument(
        "--all-outcomes",
        action="store_true",
        help="also show the outcome columns the paper metrics already aggregate",
    )
    exit_3_on_usage_errors(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from trustwatch.monitors.divergence import available_metrics, divergence
    from trustwatch.monitors.outcomes import OutcomeError
    from trustwatch.monitors.policy import load_policy

    if not 0.0 < args.confidence < 1.0:
        raise CliError(f"--confidence must lie in (0, 1), got {args.confidence}", EXIT_BAD_INPUT)
    if args.resamples < 100:
        raise CliError(f"--resamples must be at least 100, got {args.resamples}", EXIT_BAD_INPUT)
    from trustwatch.monitors.report import format_divergence

    table = load_table(args)
    baseline = args.baseline or load_policy(None).baseline
    candidates = args.candidate or [v for v in table.variants if v != baseline]
    rows = []
    if baseline not in table.variants:
        raise OutcomeError(
            f"unknown baseline variant {baseline!r}; the outcomes have {', '.join(table.variants)}",
            table.source,
        )
    for candidate in candidates:
        table.check_pairing(baseline, candidate)
        specs = [
            s
            for probe in table.variant_probes(candidate)
            for s in available_metrics(table, probe, all_outcomes=args.all_outcomes)
        ]
        rows += divergence(
            table,
            baseline,
            candidate,
            metrics=specs,
            confidence=args.confidence,
            mode=args.mode,
            resamples=args.resamples,
            seed=args.seed,
        )
    payload = {"outcomes": table.source, "baseline": baseline, "rows": [row.to_dict() for row in rows]}
    emit(args, payload, format_divergence(rows) if rows else "no candidate variant to compare")
    return 0
