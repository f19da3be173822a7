"""``trustwatch run`` with the embedded model twice: hosted in-process, and through another backend.

Both ``backend: openai`` (a vLLM server) and ``backend: vllm`` (vLLM's offline engine in its own
environment) are held to the in-process transformers backend the same way: every CrowS-Pairs
and BBQ item gets the same per-item values (log-likelihood sums within 1e-3, so the same
preferred answer), greedy continuations are identical, and the gate reads the two as one model:
PASS on every rule, with no FAIL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import SHARED_PROBESETS

# the overall rows: 120 pairs (with no flip, Newcombe's interval at 60 pairs is still wider
# than the tolerance of 3 points), 120 BBQ items (about 60 per context condition); the groups
# are too small
POLICY = {
    "baseline": "hosted",
    "defaults": {"groups": "overall", "min_items": 50},
    "rules": [
        {"probe": "crows_pairs", "metric": "stereotype_score", "tolerance": 3.0},
        {"probe": "bbq", "metric": "accuracy_ambig", "tolerance": 0.03},
        {"probe": "bbq", "metric": "accuracy_disambig", "tolerance": 0.03},
        {"probe": "bbq", "metric": "bias_score_disambig", "tolerance": 0.05},
    ],
}


def run_beside_hosted(tmp_path: Path, embedded_dir: Path, served: dict[str, Any]) -> None:
    """Run the hosted model beside ``served`` (a variant named ``served``) and check they agree."""
    config = {
        "baseline": "hosted",
        "variants": [{"name": "hosted", "model": str(embedded_dir)}, {"name": "served", **served}],
        "probes": [
            {"data": str(SHARED_PROBESETS / "crows_pairs"), "loader": "crows_pairs", "limit": 120},
            {"data": str(SHARED_PROBESETS / "bbq"), "loader": "bbq", "limit": 120},
            {"builtin": "stereotype_agreement", "limit": 6},
        ],
        "generation": {"k": 2, "max_new_tokens": 12, "temperature": 0.0},
        "backend": {"batch_size": 16},
        "policy": "policy.yaml",
    }
    (tmp_path / "policy.yaml").write_text(yaml.safe_dump(POLICY))
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "run"
    exe = Path(sys.executable).with_name("trustwatch")
    result = subprocess.run([str(exe), "run", "--config", str(path), "--out", str(out), "--json", "--quiet"],
                            capture_output=True, text=True, timeout=1500, check=False,
                            env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(result.stdout)
    rows = [json.loads(line) for line in (out / "outcomes.jsonl").read_text().splitlines()]
    by_variant: dict[str, dict[tuple[str, str], float]] = {"hosted": {}, "served": {}}
    for row in rows:
        by_variant[row["variant"]][(row["item_id"], row["metric"])] = row["value"]
    assert by_variant["hosted"].keys() == by_variant["served"].keys()
    assert {r["probe"] for r in rows} == {"crows_pairs", "bbq", "stereotype_agreement"}
    for key, hosted in by_variant["hosted"].items():
        served_value = by_variant["served"][key]
        assert abs(served_value - hosted) <= 1e-3 * max(1.0, abs(hosted)), (key, hosted, served_value)
    samples = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    texts = {(g["variant"], g["item_id"], g["sample"]): g["text"] for g in samples}
    hosted_texts = {k[1:]: v for k, v in texts.items() if k[0] == "hosted"}
    assert hosted_texts and hosted_texts == {k[1:]: v for k, v in texts.items() if k[0] == "served"}
    assert payload["verdicts"]["served"] == "PASS", payload
    report = json.loads((out / "report.json").read_text())
    statuses = {(reason["rule"], reason["group"]): reason["status"] for reason in report["gate"][0]["reasons"]}
    assert statuses and set(statuses.values()) == {"pass"}, statuses
