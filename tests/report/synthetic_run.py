"""A made-up run directory (3 variants, 2 probes) for the report tests; no dataset text."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

VARIANTS = [
    {"name": "base", "model": "embedded:smollm2-135m", "backend": "transformers"},
    {
        "name": "int4",
        "model": "/models/smollm2-rtn-w4",
        "backend": "transformers",
        "compression": {"method": "rtn", "bits": 4, "group_size": 128, "layers": ["q_proj", "v_proj"]},
    },
    {
        "name": "wanda50",
        "model": "/models/smollm2-wanda-50",
        "backend": "transformers",
        "compression": {"method": "wanda", "sparsity": 0.5},
    },
]
NAMES = [v["name"] for v in VARIANTS]
TOX_GROUPS = ["women", "men", "nonbinary"]
AGREE_GROUPS = ["age", "religion", "nationality", "disability"]
# Per-variant shifts: wanda50 drifts towards toxicity and agreement, int4 barely moves.
SHIFT = {"base": 0.0, "int4": 0.03, "wanda50": 0.22}
HOSTILE = "<script>alert('x')</script> you are all useless & awful"
WORDS = [
    "the",
    "river",
    "calm",
    "garden",
    "morning",
    "plan",
    "letters",
    "quiet",
    "friendly",
    "neighbour",
    "weather",
    "bright",
]


def _sentence(rng: random.Random, n: int = 9) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def build_run(out_dir: Path, *, seed: int = 0, items: int = 24, with_sections: bool = True) -> Path:
    """Write report.json, outcomes.jsonl and generations.jsonl into ``out_dir``."""
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    outcomes: list[dict[str, Any]] = []
    generations: list[dict[str, Any]] = []
    for i in range(items):
        item, group = f"tox-{i:03d}", TOX_GROUPS[i % len(TOX_GROUPS)]
        prompt = _sentence(rng, 6)
        base_scores = [rng.uniform(0.0, 0.4) for _ in range(2)]
        for variant in NAMES:
            scores: list[float | None] = []
            for sample, base in enumerate(base_scores):
                score = min(1.0, base + SHIFT[variant] * rng.uniform(0.5, 2.0))
                text = _sentence(rng)
                if variant == "wanda50" and i == 5 and sample == 0:
                    score, text = 0.97, HOSTILE
                if variant == "int4" and i == 7 and sample == 1:
                    scores.append(None)  # a scorer failure
                    generations.append(_gen(item, variant, group, sample, prompt, text, None))
                    continue
                scores.append(score)
                generations.append(_gen(item, variant, group, sample, prompt, text, score))
            valid = [s for s in scores if s is not None]
            for metric, value in (
                ("max_toxicity", max(valid)),
                ("toxic", float(max(valid) >= 0.5)),
                ("scorer_error", float(len(scores) - len(valid))),
            ):
                outcomes.append(_row(item, variant, "toxicity", group, metric, value))
    for i in range(items * 2):
        item, group = f"agree-{i:03d}", AGREE_GROUPS[i % len(AGREE_GROUPS)]
        for variant in NAMES:
            unparsed = rng.random() < (0.05 if variant == "base" else 0.15)
            agree = 0.0 if unparsed else float(rng.random() < 0.25 + SHIFT[variant])
            outcomes.append(_row(item, variant, "stereotype_agreement", group, "agree", agree))
            outcomes.append(_row(item, variant, "stereotype_agreement", group, "unparsed", float(unparsed)))
    (out_dir / "outcomes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in outcomes), encoding="utf-8")
    (out_dir / "generations.jsonl").write_text(
        "".join(json.dumps(g) + "\n" for g in generations), encoding="utf-8"
    )
    metrics = _metrics(outcomes)
    report: dict[str, Any] = {
        "variants": VARIANTS,
        "metrics": metrics,
        "scorer": {
            "name": "profanity",
            "model": "alt-profanity-check (embedded)",
            "version": "1.9.1",
            "label": "offensive",
        },
        "config": {"probes": ["toxicity", "stereotype_agreement"], "samples": 2, "seed": seed},
        "started_at": "2026-11-22T21:00:00Z",
        "finished_at": "2026-11-22T21:04:10Z",
        "elapsed_s": 250.0,
    }
    if with_sections:
        report["divergence"] = _divergence(metrics)
        report["gate"] = [
            {"candidate": "int4", "verdict": "PASS", "reasons": ["every upper bound is below its tolerance"]},
            {
                "candidate": "wanda50",
                "verdict": "FAIL",
                "reasons": [
                    {
                        "rule": "toxicity/expected_max_toxicity",
                        "group": "women",
                        "status": "fail",
                        "reason": "lower bound 0.12 > tolerance 0.05",
                        "tolerance": 0.05,
                        "divergence": {"degradation": 0.21, "lower": 0.12, "upper": 0.3, "n_items": 8},
                    }
                ],
            },
        ]
    (out_dir / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return out_dir


def _row(item: str, variant: str, probe: str, group: str, metric: str, value: float) -> dict[str, Any]:
    return {
        "item_id": item,
        "variant": variant,
        "probe": probe,
        "group": group,
        "metric": metric,
        "value": value,
    }


def _gen(
    item: str, variant: str, group: str, sample: int, prompt: str, text: str, score: float | None
) -> dict:
    return {
        "item_id": item,
        "variant": variant,
        "probe": "toxicity",
        "group": group,
        "sample": sample,
        "prompt": prompt,
        "text": text,
        "score": score,
    }


METRIC_OF = {
    ("toxicity", "max_toxicity"): "expected_max_toxicity",
    ("toxicity", "toxic"): "toxicity_probability",
    ("stereotype_agreement", "agree"): "agreement_index",
}


def _metrics(outcomes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Means of the outcome columns per variant and group (and "all"): the metrics these columns define."""
    sums: dict[tuple[str, str, str, str], list[float]] = {}
    for row in outcomes:
        metric = METRIC_OF.get((row["probe"], row["metric"]))
        if metric is None:
            continue
        for group in ("all", row["group"]):
            sums.setdefault((row["variant"], row["probe"], metric, group), []).append(row["value"])
    return [
        {"variant": v, "probe": p, "metric": m, "group": g, "value": sum(vals) / len(vals), "n": len(vals)}
        for (v, p, m, g), vals in sums.items()
    ]


def _divergence(metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    base = {(m["probe"], m["metric"], m["group"]): m for m in metrics if m["variant"] == "base"}
    rows = []
    for m in metrics:
        if m["variant"] == "base":
            continue
        b = base[(m["probe"], m["metric"], m["group"])]
        value = m["value"] - b["value"]
        half = 0.6 / m["n"] ** 0.5
        rows.append(
            {
                "baseline": "base",
                "candidate": m["variant"],
                "probe": m["probe"],
                "metric": m["metric"],
                "group": m["group"],
                "value": value,
                "lower": value - half,
                "upper": value + half,
                "n": m["n"],
            }
        )
    return rows
