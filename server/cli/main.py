"""The ``trustwatch`` command: one sub-command per module ``trustwatch.server.cli.<verb>_cmd``.

Each command module defines ``register(subparsers, common)``, adding its parser with
``set_defaults(handler=...)``; a handler returns the exit code. Command modules import
heavy libraries (torch, transformers) inside their handlers so that ``--help`` is quick.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from trustwatch import __version__
from trustwatch.server.cli.common import EXIT_INTERRUPTED, common_parser, exit_code

COMMANDS = ["models", "generate", "score", "run", "serve", "gate", "diff", "compress", "probes", "metrics"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trustwatch",
        description="Guardrail and monitoring for compressed LLMs: replay safety probes against every variant.",
    )
    parser.add_argument("--version", action="version", version=f"trustwatch {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = common_parser()
    for name in COMMANDS:
        importlib.import_module(f"trustwatch.server.cli.{name}_cmd").register(subparsers, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print(f"trustwatch {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        code = exit_code(error, args)
        if code is None:
            raise
        describe = getattr(args, "describe_error", str)
        print(f"trustwatch {args.command}: error: {describe(error)}", file=sys.stderr)
        return code


if __name__ == "__main__":
    raise SystemExit(main())
