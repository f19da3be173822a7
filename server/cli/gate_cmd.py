"""``trustwatch gate``: PASS / FAIL / INCONCLUSIVE per candidate from outcomes and a policy.

Exit codes: 0 PASS (every candidate), 1 FAIL (some candidate), 2 INCONCLUSIVE (some candidate,
none failing), 3 bad input (outcomes, policy or arguments; the message names the line).
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path
from typing import Any, NoReturn

from trustwatch.server.cli.common import CliError, emit

EXIT_BAD_INPUT = 3


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """--outcomes FILE | --run DIR (exactly one), and --baseline."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--outcomes", metavar="FILE", help="an outcomes.jsonl file, or a results store (the SQLite file of `serve`)"
    )
    source.add_argument("--run", metavar="DIR", help="a run directory holding outcomes.jsonl")
    parser.add_argument("--baseline", metavar="NAME", help="the baseline variant (default: the policy's)")
    parser.add_argument(
        "--config", metavar="FILE",
        help="the run/serve config whose baseline, policy and replay.mode apply, as the service applies them "
        "(instead of --policy); for gate, its probes too: one with no outcome holds the verdict INCONCLUSIVE",
    )
    parser.add_argument(
        "--candidate",
        metavar="NAME",
        action="append",
        help="a candidate variant (repeatable; default: every other variant)",
    )


def exit_3_on_usage_errors(parser: argparse.ArgumentParser) -> None:
    """Argument errors exit 3 (bad input), since exit 2 means INCONCLUSIVE for these commands."""

    def error(self: argparse.ArgumentParser, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")

    parser.error = types.MethodType(error, parser)  # type: ignore[method-assign]
    parser.set_defaults(bad_input_exit=EXIT_BAD_INPUT)  # for errors raised while running, too


def load_table(args: argparse.Namespace) -> Any:
    """The outcomes of --run DIR or --outcomes FILE (outcomes.jsonl, or a store read as the service reads it)."""
    from trustwatch.monitors.outcomes import OutcomeTable, load_outcomes, load_run
    from trustwatch.server.store import is_store_file, read_outcome_rows

    if args.run:
        return load_run(args.run)
    if is_store_file(args.outcomes):
        return OutcomeTable.from_rows(read_outcome_rows(args.outcomes), source=str(args.outcomes))
    return load_outcomes(args.outcomes)


def serve_config(args: argparse.Namespace) -> Any:
    """The --config file as the service reads it (``ServeConfig``), or None without --config; read
    once per command (its probe items are collected from it too). A bad file exits 3."""
    if args.config is None:
        return None
    if args.policy is not None:
        raise CliError("give --config (its policy applies) or --policy, not both", EXIT_BAD_INPUT)
    from trustwatch.server.service_config import load_serve_config

    return load_serve_config(args.config)


def analysis_settings(args: argparse.Namespace, serve: Any = None) -> tuple[Any, str | None, str | None]:
    """The policy, baseline and mode the analysis uses: from ``serve`` (the --config as
    ``serve_config`` read it: its policy, baseline and ``replay.mode``), else the --policy file
    (default: the packaged one); --baseline and --mode override either. A bad file exits 3
    (cli/common.py)."""
    from trustwatch.monitors.policy import load_policy

    if serve is None:
        return load_policy(args.policy), args.baseline, args.mode
    return load_policy(serve.run.policy), args.baseline or serve.run.baseline, args.mode or serve.replay.mode


def expected_probes(args: argparse.Namespace, serve: Any = None) -> frozenset[str]:
    """The probes the outcomes should hold, as the service or run knows them: those of the --config's
    probe items (``serve``), else those the run's report.json counted (--run); none for a bare
    --outcomes file. The gate holds a verdict INCONCLUSIVE while one of them has no outcome."""
    if serve is not None:
        from trustwatch.server.probe_sources import collect_items

        return frozenset(item.probe for item in collect_items(serve.run.probes, serve.run.source))
    if args.run:
        report = Path(args.run) / "report.json"
        try:
            return frozenset(json.loads(report.read_text()).get("items", {}))
        except (OSError, ValueError, AttributeError):
            return frozenset()  # no report (or not one of ours): the outcomes alone say what was measured
    return frozenset()


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "gate",
        parents=[common],
        help="gate candidates against the baseline: PASS / FAIL / INCONCLUSIVE",
        description="Gate every candidate variant against the baseline from paired outcomes and a policy. "
        "Exit 0 PASS, 1 FAIL, 2 INCONCLUSIVE, 3 bad input.",
    )
    add_source_arguments(parser)
    parser.add_argument(
        "--policy", metavar="FILE", help="gate policy YAML (default: the packaged default policy)"
    )
    parser.add_argument(
        "--mode",
        choices=("fixed", "sequential"),
        help="fixed: one look (bootstrap); sequential: confidence sequences, safe to re-run "
        "as items accumulate (default: the policy's)",
    )
    parser.add_argument(
        "--all-rows", action="store_true", help="print every counted row, not only the reasons"
    )
    exit_3_on_usage_errors(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from trustwatch.monitors.gate import exit_code
    from trustwatch.monitors.report import format_verdicts
    from trustwatch.server.analysis import gate_verdicts

    serve = serve_config(args)
    policy, baseline, mode = analysis_settings(args, serve)
    table = load_table(args)
    verdicts = gate_verdicts(
        table, policy, mode, baseline=baseline, candidates=args.candidate, expected_probes=expected_probes(args, serve)
    )
    payload = {
        "outcomes": table.source,
        "policy": policy.source,
        "exit_code": exit_code(verdicts),
        "verdicts": [v.to_dict() for v in verdicts],
    }
    emit(args, payload, format_verdicts(verdicts, all_rows=args.all_rows))
    return exit_code(verdicts)
