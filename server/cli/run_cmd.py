"""``trustwatch run``: one-shot comparison of the variants of a config, with a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from trustwatch.server.cli.common import CliError, emit, progress_enabled


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "run",
        parents=[common],
        help="evaluate every variant on the same probe items and write outcomes and a report",
        description="With no --config: the embedded model beside its compressed variants, on the built-in packs.",
    )
    parser.add_argument("--config", type=Path, help="run config (YAML); default: the embedded default")
    parser.add_argument("--out", type=Path, default=Path("trustwatch-run"),
                        help="run directory (resumed when it exists; default: %(default)s)")
    parser.add_argument("--slice-size", type=int, default=32, help="items per replay slice (default: %(default)s)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from trustwatch.server.config import load_config
    from trustwatch.server.run_job import run_job

    if args.slice_size < 1:
        raise CliError(f"--slice-size must be >= 1, got {args.slice_size}")
    quiet = args.quiet or args.json

    def log(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr)

    config = load_config(args.config)
    result = run_job(config, args.out, progress=progress_enabled(args), slice_size=args.slice_size, log=log)
    verdicts = [v.to_dict() for v in result.analysis.verdicts]
    payload = {
        "out": str(result.out_dir),
        "report_json": str(result.report_json),
        "report_html": str(result.report_html) if result.report_html else None,
        "variants": result.variants,
        "items": result.items,
        "resumed_answers": result.resumed_items,
        "seconds": round(result.seconds, 1),
        "verdicts": {v["candidate"]: v["verdict"] for v in verdicts},
        "notes": result.analysis.notes,
    }
    lines = ["variants:"]
    for variant in result.variants:
        compression = variant.get("compression") or {}
        detail = compression.get("summary") or variant["model"]
        state = "" if variant["state"] == "ready" else f"  [{variant['state']}: {variant['reason']}]"
        lines.append(f"  {variant['name']:<20} {detail}{state}")
    lines.append(f"{result.items} items per variant in {result.seconds:.0f} s"
                 + (f" ({result.resumed_items} answers resumed from {result.out_dir})" if result.resumed_items else ""))
    lines += [f"  {v['candidate']:<20} {v['verdict']}" + ("  (degenerate)" if v["degenerate"] else "")
              for v in verdicts]
    lines += [f"  note: {n}" for n in result.analysis.notes]
    lines.append(f"report: {result.report_html or result.report_json}")
    emit(args, payload, "\n".join(lines))
    return 0
