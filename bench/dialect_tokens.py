"""Why a dialect perplexity gap moved: the gap of 8-bit variants of the embedded model on the
habitual-be pairs, and the change of each shared token's NLL behind it.

    python -m trustwatch.bench.dialect_tokens [--data ../shared/probesets] [--top 8] [--quick]

The habitual-be pairs (Hofmann et al. 2024, dialect-prejudice repository) come from a template:
"<pronoun> be <verb>" (AAE) against "<pronoun>'s / 're usually <verb>" (SAE), 3 pronouns x 233
verbs. Every SAE sentence shares " usually" and one of three pronoun continuations, so the
perplexity gap (``common.metrics``, Xu et al. 2024, Sec. 3) moves with a handful of next-token
probabilities that hundreds of pairs share. The gate's interval resamples the 699 pairs; it says
how sure the gap of this set moved, not whether the move is more than a few tokens'.

Prints (1) the gap, the mean NLL change per sentence and the relative weight error of each
variant in ``VARIANTS`` (over the tensors compression changed), and
(2) per (position, token) with at least 30 sentences, the mean NLL of the original and each
variant's change: the rows whose change times their share of the sentences adds up to the shift.
Each sentence is scored as TransformersBackend scores a loglikelihood request with an empty
context: its prefix token, then the text (rows padded on the right, so a token sees only the
sentence before it); the backend's own packed scoring gives the same NLLs to 1e-4 nats.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trustwatch.bench.harness import print_table
from trustwatch.common.metrics import METRICS_BY_KEY
from trustwatch.common.model_specs import DEFAULT_MODEL_SPEC, resolve_model
from trustwatch.compress.variants import build_variant
from trustwatch.probes.loaders import LOADERS

VARIANTS: dict[str, dict[str, Any]] = {
    "rtn-8bit (g32 sym)": {"method": "rtn", "bits": 8, "group_size": 32},
    "rtn-8bit g64 sym": {"method": "rtn", "bits": 8, "group_size": 64},
    "rtn-8bit g64 asym": {"method": "rtn", "bits": 8, "group_size": 64, "sym": False},
    "rtn-8bit per row": {"method": "rtn", "bits": 8, "group_size": -1},
}
SIDES = ("aae", "sae")
MIN_SENTENCES = 30
"""A (position, token) row is printed when this many sentences share it."""
QUICK_PAIRS = 60
BATCH = 64
"""Sentences per forward, padded on the right (a sentence's tokens see only the ones before them)."""

TokenKey = tuple[str, int, str]  # side, position, token (text) or "*" past the shared part
Scored = dict[TokenKey, list[float]]


def score(model_path: str, pairs: list[dict[str, str]]) -> Scored:
    """Each token's NLL in every sentence, keyed by side, position and (for the first three) token."""
    from trustwatch.server.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(model_path, device="cpu", dtype="float32")
    out: Scored = defaultdict(list)
    try:
        with torch.no_grad():
            for side in SIDES:
                for start in range(0, len(pairs), BATCH):
                    rows = [[backend.prefix_id, *backend.encode(pair[side])] for pair in pairs[start : start + BATCH]]
                    width = max(map(len, rows))
                    ids = torch.tensor([row + [backend.prefix_id] * (width - len(row)) for row in rows])
                    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows])
                    logits = backend.model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
                    nll = -torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None])[..., 0]
                    for row, values in zip(rows, nll.tolist(), strict=True):  # right padding: a row's own tokens first
                        for position, token in enumerate(row[1:]):
                            text = backend.tokenizer.decode([token]) if position < 3 else "*"
                            out[(side, position, text)].append(values[position])
    finally:
        backend.close()
    return out


def weights(model_path: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(Path(model_path) / "model.safetensors"))


def weight_error(base: dict[str, torch.Tensor], variant: str) -> float:
    """The relative weight error over the tensors compression changed: sqrt(sum ||W' - W||^2 / sum ||W||^2)."""
    changed = weights(variant)
    error = norm = 0.0
    for name, weight in changed.items():
        before = base.get(name)
        if before is None or before.shape != weight.shape or torch.equal(before, weight):
            continue
        error += float((weight.double() - before.double()).square().sum())
        norm += float(before.double().square().sum())
    return (error / norm) ** 0.5 if norm else 0.0


def gap(scored: Scored) -> tuple[float, dict[str, float], dict[str, int]]:
    """The perplexity gap (the metric's own formula), and each side's summed NLL and tokens."""
    nll = {side: sum(sum(v) for k, v in scored.items() if k[0] == side) for side in SIDES}
    tokens = {side: sum(len(v) for k, v in scored.items() if k[0] == side) for side in SIDES}
    sums = {f"{column}_{side}": np.array([float(source[side])])
            for column, source in (("nll", nll), ("tokens", tokens)) for side in SIDES}
    value = METRICS_BY_KEY[("dialect", "perplexity_gap")].estimate(sums, {})
    return float(value[0]), nll, tokens


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "probesets",
                        help="the probe sets' directory (default: ../shared/probesets)")
    parser.add_argument("--top", type=int, default=8, help="token rows per side")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_PAIRS} pairs and the first variant only")
    args = parser.parse_args(argv)
    limit, variants = (QUICK_PAIRS, dict(list(VARIANTS.items())[:1])) if args.quick else (None, VARIANTS)
    pairs = [item.payload for item in LOADERS["dialect_habitual_be"].load(args.data, limit=limit)]
    paths = {"original": str(resolve_model(DEFAULT_MODEL_SPEC).path),
             **{name: str(build_variant(DEFAULT_MODEL_SPEC, spec)) for name, spec in variants.items()}}
    scored = {name: score(path, pairs) for name, path in paths.items()}
    base_gap, base_nll, _ = gap(scored["original"])
    rows = []
    base_weights = weights(paths["original"])
    for name, result in scored.items():
        value, nll, _ = gap(result)
        error = "" if name == "original" else f"{weight_error(base_weights, paths[name]):.2%}"
        rows.append([name, round(value, 4), f"{value / base_gap - 1:+.2%}",
                     *(round((nll[side] - base_nll[side]) / len(pairs), 3) for side in SIDES), error])
    print_table(f"Dialect perplexity gap on {len(pairs)} habitual-be pairs",
                ["model", "gap", "change", "mean dNLL / AAE sentence", "mean dNLL / SAE sentence",
                 "relative weight error"], rows)
    names = [name for name in scored if name != "original"]
    for side in SIDES:
        keys = sorted((k for k, v in scored["original"].items() if k[0] == side and len(v) >= MIN_SENTENCES),
                      key=lambda k: -len(scored["original"][k]))[: args.top]
        table = []
        for key in keys:
            base = float(np.mean(scored["original"][key]))
            table.append([key[1], repr(key[2]), len(scored["original"][key]), round(base, 3),
                          *(f"{float(np.mean(scored[n][key])) - base:+.3f}" for n in names)])
        print_table(f"{side.upper()} tokens: mean NLL of the original, and each variant's change",
                    ["position", "token", "sentences", "original", *names], table)


if __name__ == "__main__":
    main()
