"""``trustwatch score``: log P(continuation | context) from one hosted model."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from trustwatch.server.cli.backend_args import add_backend_arguments, load_backend


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "score", parents=[common], help="log-probability of a continuation given a context (JSON)"
    )
    add_backend_arguments(parser)
    parser.add_argument("--context", required=True, help="conditioning text (may be empty)")
    parser.add_argument("--continuation", required=True, help="text whose log-probability is computed")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from trustwatch.common.requests import LoglikelihoodRequest

    request = LoglikelihoodRequest(args.context, args.continuation)
    backend = load_backend(args)
    [result] = backend.loglikelihood([request])
    # The contract is this JSON object, with or without --json.
    print(json.dumps(asdict(result)))
    return 0
