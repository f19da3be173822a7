"""``trustwatch compress``: turn a model into a compressed variant folder with its manifest.

    trustwatch compress --model embedded:smollm2-135m --method rtn --bits 4 --group-size 64 --out DIR
    trustwatch compress --model SPEC --method gptq --bits 4 --group-size 64 --out DIR
    trustwatch compress --model SPEC --method magnitude --sparsity 0.5 --out DIR
    trustwatch compress --model SPEC --method nm --pattern 2:4 --out DIR
    trustwatch compress --model SPEC --method wanda --sparsity 0.5 --out DIR   (or --pattern 2:4)

Bad options exit with code 2 before any model is loaded.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from trustwatch.server.cli.common import emit, progress_enabled


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    from trustwatch.compress.options import METHODS

    parser = subparsers.add_parser(
        "compress",
        parents=[common],
        help="quantize or prune a model into a variant folder (with trustwatch-compression.json)",
        description="Quantize (rtn, gptq) or prune (magnitude, nm, wanda, sparsegpt) a model; "
        "the output is a normal model folder plus trustwatch-compression.json.",
    )
    parser.add_argument(
        "--model", default="embedded:smollm2-135m", help="source model spec (default: %(default)s)"
    )
    parser.add_argument("--method", required=True, choices=METHODS, help="compression method")
    parser.add_argument("--out", required=True, type=Path, help="output folder (must be empty or absent)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    quant = parser.add_argument_group("quantization (rtn, gptq)")
    quant.add_argument("--bits", type=int, help="bits per weight: rtn 8/4/3, gptq 4/3 (default 4)")
    quant.add_argument(
        "--group-size", type=int, help="weights per group along a row; -1: per row (default 64)"
    )
    quant.add_argument(
        "--asym", dest="sym", action="store_const", const=False, help="asymmetric grid (default symmetric)"
    )
    prune = parser.add_argument_group("pruning (magnitude, nm, wanda, sparsegpt)")
    prune.add_argument("--sparsity", type=float, help="fraction of weights to zero per layer, in [0, 1)")
    prune.add_argument("--pattern", help="N:M semi-structured pattern, e.g. 2:4 or 4:8")
    parser.add_argument(
        "--include-head",
        dest="include_head",
        action="store_const",
        const=True,
        help="also compress the output head (tied to the embedding in SmolLM2: both change)",
    )
    calib = parser.add_argument_group("calibration (gptq, wanda, sparsegpt)")
    calib.add_argument("--calibration", help="UTF-8 text file to calibrate on (default: built-in text)")
    calib.add_argument("--samples", type=int, help="at most this many calibration windows (default 16)")
    calib.add_argument(
        "--seq-len", dest="seq_len", type=int, help="tokens per calibration window (default 256)"
    )
    # Bad options exit 2 naming the flag; a failure while compressing exits 1 (server/cli/common.py).
    parser.set_defaults(handler=run, describe_error=_as_flags, runtime_errors=True)


_OPTION_NAMES = (
    "bits",
    "group_size",
    "sym",
    "sparsity",
    "pattern",
    "include_head",
    "calibration",
    "samples",
    "seq_len",
)


def _as_flags(error: BaseException) -> str:
    """``option group_size: ...`` -> ``--group-size: ...`` (the spelling the user typed)."""
    message = str(error)
    if not isinstance(error, ValueError):
        return message
    match = re.match(r"option ([a-z_ /]+):", message)
    if not match:
        return message
    flags = " / ".join("--" + name.strip().replace("_", "-") for name in match[1].split("/"))
    return flags + message[match.end() - 1 :]


def run(args: argparse.Namespace) -> int:
    from trustwatch.compress.manifest import read_manifest, summarise_manifest
    from trustwatch.compress.options import parse_options
    from trustwatch.compress.pipeline import compress_model

    spec = {"method": args.method, **{name: getattr(args, name) for name in _OPTION_NAMES}}
    options = parse_options(spec)
    out = compress_model(args.model, options, args.out, overwrite=args.overwrite, progress=progress_enabled(args))
    manifest = read_manifest(out)
    assert manifest is not None
    emit(args, {"out": str(out), "manifest": manifest}, f"wrote {out}\n  {summarise_manifest(manifest)}")
    return 0
