"""Options shared by the commands that load one model: spec, backend, device, dtype, batch size."""

from __future__ import annotations

import argparse
from typing import Any

from trustwatch.server.cli.common import CliError, progress_enabled


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default="embedded:smollm2-135m",
        help="model spec: a local HF folder, a .gguf file, or embedded:NAME (default: %(default)s)",
    )
    parser.add_argument("--backend", default="transformers", choices=["transformers", "openai", "vllm"])
    parser.add_argument(
        "--base-url", help="openai backend: the model server, e.g. http://localhost:8000/v1 (--model: the served name)",
    )
    parser.add_argument(
        "--tokenizer", help="openai backend: a local folder or spec with the served model's tokenizer "
        "(default: the server's /tokenize)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (transformers backend)")
    parser.add_argument("--dtype", default="auto", help="auto (float32 on CPU, bfloat16 on CUDA), float32, bfloat16")
    parser.add_argument(
        "--chat-template", choices=["auto", "on", "off"], default="auto",
        help="wrap prompts in the tokenizer's chat template (auto: when the tokenizer has one)",
    )


def load_backend(args: argparse.Namespace, batch_size: int = 8) -> Any:
    """The backend the arguments name; a bad spec or option becomes a CliError naming it."""
    from tqdm.auto import tqdm

    from trustwatch.common.model_specs import ModelSpecError
    from trustwatch.server.backends import create_backend

    chat = {"auto": None, "on": True, "off": False}[args.chat_template]
    options: dict[str, Any] = {"chat_template": chat, "batch_size": batch_size, "progress": progress_enabled(args)}
    if args.backend == "transformers":
        options.update(device=args.device, dtype=args.dtype)
    elif args.backend == "openai":
        if not args.base_url:
            raise CliError("--backend openai needs --base-url (the model server, e.g. http://localhost:8000)")
        options["base_url"] = args.base_url
    elif args.base_url or args.tokenizer:
        raise CliError("--base-url and --tokenizer are options of --backend openai")
    with tqdm(total=1, desc=f"loading {args.model}", unit="model", disable=not progress_enabled(args)) as bar:
        try:
            if args.backend == "openai":
                backend = create_backend("openai", args.tokenizer, model=args.model, **options)
            else:
                backend = create_backend(args.backend, args.model, **options)
        except (ModelSpecError, ValueError, RuntimeError) as error:
            raise CliError(str(error)) from error
        bar.update(1)
    return backend
