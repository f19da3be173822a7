"""``trustwatch diff``: the paired divergence table of every candidate against the baseline."""

from __future__ import annotations

import argparse

from trustwatch.server.cli.common import CliError, emit
from trustwatch.server.cli.gate_cmd import (
    EXIT_BAD_INPUT,
    add_source_arguments,
    analysis_settings,
    exit_3_on_usage_errors,
    load_table,
    serve_config,
)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "diff",
        parents=[common],
        help="paired divergence of every candidate against the baseline, per probe, metric and group",
        description="Print candidate - baseline per probe, metric and group, signed so that positive is "
        "worse, with intervals (bootstrap, Newcombe with McNemar for binary outcomes, or confidence sequences). "
        "Baseline, confidence, mode, resamples and seed come from the policy (--policy, default: the packaged "
        "one), or from a serve config as the service takes them (--config: its policy, baseline and "
        "replay.mode), as in GetDivergence; the flags override them.",
    )
    add_source_arguments(parser)
    parser.add_argument(
        "--policy", metavar="FILE",
        help="gate policy YAML whose baseline, confidence, mode, resamples and seed apply, as the service's "
        "GetDivergence applies its own (default: the packaged default policy)",
    )
    parser.add_argument("--confidence", type=float, help="interval level (default: the policy's, 0.95 by default)")
    parser.add_argument(
        "--mode",
        choices=("fixed", "sequential"),
        help="fixed: bootstrap / Newcombe; sequential: confidence sequences (default: the policy's, fixed "
        "by default; `serve` uses its config's replay.mode, sequential by default)",
    )
    parser.add_argument("--resamples", type=int, help="bootstrap replicates (default: the policy's, 2000 by default)")
    parser.add_argument("--seed", type=int, help="bootstrap seed (default: the policy's, 0 by default)")
    parser.add_argument(
        "--all-outcomes",
        action="store_true",
        help="also show the outcome columns the paper metrics already aggregate",
    )
    exit_3_on_usage_errors(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from trustwatch.monitors.report import format_divergence
    from trustwatch.server.analysis import diff_rows

    if args.confidence is not None and not 0.0 < args.confidence < 1.0:
        raise CliError(f"--confidence must lie in (0, 1), got {args.confidence}", EXIT_BAD_INPUT)
    if args.resamples is not None and args.resamples < 100:
        raise CliError(f"--resamples must be at least 100, got {args.resamples}", EXIT_BAD_INPUT)
    policy, baseline, mode = analysis_settings(args, serve_config(args))
    # The flags override the policy's values; unset, the policy's apply, as in the service.
    overrides = {"confidence": args.confidence, "resamples": args.resamples, "seed": args.seed}
    policy = replace(policy, **{k: v for k, v in overrides.items() if v is not None})
    table = load_table(args)
    baseline, rows = diff_rows(
        table, policy, mode, baseline=baseline, candidates=args.candidate, all_outcomes=args.all_outcomes
    )
    payload = {"outcomes": table.source, "baseline": baseline, "rows": [row.to_dict() for row in rows]}
    emit(args, payload, format_divergence(rows) if rows else "no candidate variant to compare")
    return 0
