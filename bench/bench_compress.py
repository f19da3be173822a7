"""Perplexity of each compressed variant of the embedded model on a fixed text, against the original.

    python -m trustwatch.bench.bench_compress [--only rtn-8bit magnitude-50 ...] [--json]

Builds (or reuses from the variant cache) every variant below with ``build_variant``, loads
each through TransformersBackend and scores ``trustwatch.compress.evaluate.EVAL_TEXT``;
prints one row per variant: method label, measured sparsity, build time (from the
manifest; 0 when cached by an earlier run it is the original build's), perplexity, and the
ratio to the original's perplexity. GPTQ rows need the ``gptq`` extra and are left out
without it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from trustwatch.common.model_specs import DEFAULT_MODEL_SPEC
from trustwatch.compress.evaluate import perplexity
from trustwatch.compress.gptq import gptq_available
from trustwatch.compress.manifest import read_manifest
from trustwatch.compress.variants import build_variant

BENCH_VARIANTS: dict[str, dict[str, Any]] = {
    "rtn-8bit": {"method": "rtn", "bits": 8, "group_size": 32},  # the study's (probes/configs/study.yaml)
    "rtn-8bit-g64": {"method": "rtn", "bits": 8, "group_size": 64},
    "rtn-4bit": {"method": "rtn", "bits": 4, "group_size": 64},
    "rtn-3bit": {"method": "rtn", "bits": 3, "group_size": 64},
    "magnitude-50": {"method": "magnitude", "sparsity": 0.5},
    "magnitude-2of4": {"method": "nm", "pattern": "2:4"},
    "magnitude-4of8": {"method": "nm", "pattern": "4:8"},
    "wanda-50": {"method": "wanda", "sparsity": 0.5},
    "wanda-2of4": {"method": "wanda", "pattern": "2:4"},
    "sparsegpt-50": {"method": "sparsegpt", "sparsity": 0.5},
    "gptq-4bit": {"method": "gptq", "bits": 4, "group_size": 64},
    "gptq-3bit": {"method": "gptq", "bits": 3, "group_size": 64},
}


def run(names: list[str], progress: bool) -> list[dict[str, Any]]:
    from trustwatch.server.backends.transformers_backend import TransformersBackend

    rows: list[dict[str, Any]] = []
    original = TransformersBackend(DEFAULT_MODEL_SPEC, device="cpu", dtype="float32", batch_size=4)
    base = perplexity(original)
    original.close()
    rows.append({"variant": "original", "label": "float (dequantized Q4_1 GGUF)", **base, "ratio": 1.0})
    for name in names:
        spec = BENCH_VARIANTS[name]
        if spec["method"] == "gptq" and not gptq_available():
            continue
        folder = build_variant(DEFAULT_MODEL_SPEC, spec, progress=progress)
        manifest = read_manifest(folder) or {}
        backend = TransformersBackend(str(folder), device="cpu", dtype="float32", batch_size=4)
        scored = perplexity(backend)
        backend.close()
        sparsity = manifest.get("sparsity")
        rows.append(
            {
                "variant": name,
                "label": manifest.get("label", spec["method"]),
                "sparsity": sparsity["overall"] if sparsity else None,
                "build_s": manifest.get("wall_time_s"),
                **scored,
                "ratio": scored["perplexity"] / base["perplexity"],
            }
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'variant':<16} {'method':<22} {'sparsity':>8} {'build s':>8} {'perplexity':>10} {'ratio':>7}"]
    for row in rows:
        sparsity = f"{row['sparsity']:.1%}" if row.get("sparsity") is not None else "-"
        build = f"{row['build_s']:.1f}" if row.get("build_s") is not None else "-"
        lines.append(
            f"{row['variant']:<16} {row['label']:<22.22} {sparsity:>8} {build:>8} "
            f"{row['perplexity']:>10.2f} {row['ratio']:>7.3f}"
        )
    tokens = int(rows[0]["tokens"])
    lines.append(f"(perplexity over {tokens} tokens of EVAL_TEXT; ratio = variant / original)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", nargs="+", choices=list(BENCH_VARIANTS), help="variants to run (default: all)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of the table")
    args = parser.parse_args(argv)
    os.environ.setdefault("GPTQMODEL_CPU_WORKERS", "2")
    rows = run(args.only or list(BENCH_VARIANTS), progress=sys.stderr.isatty())
    print(json.dumps(rows, indent=2) if args.json else table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
