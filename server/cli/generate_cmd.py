"""``trustwatch generate``: text from one hosted model, seeded."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from trustwatch.server.cli.backend_args import add_backend_arguments, load_backend
from trustwatch.server.cli.common import emit


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("generate", parents=[common], help="generate text from a model")
    add_backend_arguments(parser)
    parser.add_argument("--prompt", required=True)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=0.0, help="0 is greedy (default)")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from trustwatch.common.requests import GenerateRequest

    request = GenerateRequest(
        args.prompt, args.max_new_tokens, args.temperature, args.top_p, args.seed, tuple(args.stop)
    )
    backend = load_backend(args)
    [result] = backend.generate([request])
    emit(args, {"model": args.model, "backend": backend.name, **asdict(result)}, result.text)
    return 0
