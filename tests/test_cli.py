"""The CLI's first verbs, run as a user runs them: the installed `trustwatch` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .backends.direct import direct_logprob

EXE = Path(sys.executable).with_name("trustwatch")


def tw(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, env=env, timeout=300, check=False)


def test_models_lists_embedded_model_and_backends() -> None:
    result = tw("models", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    [embedded] = payload["embedded"]
    assert embedded["spec"] == "embedded:smollm2-135m" and embedded["installed"] is True
    assert payload["backends"]["transformers"]["available"] is True
    assert "cpu" in payload["backends"]["transformers"]["devices"]
    assert payload["backends"]["vllm"]["available"] is False
    assert "vllm" in payload["backends"]["vllm"]["reason"]


def test_score_prints_the_contract_json(tiny_model_dir: Path) -> None:
    result = tw("score", "--model", str(tiny_model_dir), "--context", "The quick brown", "--continuation", " fox")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {"logprob", "tokens", "is_greedy"}
    logprob, tokens, greedy = direct_logprob(tiny_model_dir, "The quick brown", " fox")
    assert payload["logprob"] == pytest.approx(logprob, abs=1e-4)
    assert (payload["tokens"], payload["is_greedy"]) == (tokens, greedy)


def test_generate_is_seeded(tiny_model_dir: Path) -> None:
    args = ["generate", "--model", str(tiny_model_dir), "--prompt", "Hello", "--max-new-tokens", "8",
            "--temperature", "1.0", "--seed", "4", "--json"]
    first, second = tw(*args), tw(*args)
    assert first.returncode == 0, first.stderr
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert a == b
    assert a["finish_reason"] in ("stop", "length") and 1 <= a["tokens"] <= 8


def test_bad_input_exits_2_with_the_reason(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result = tw("score", "--model", str(missing), "--context", "a", "--continuation", "b")
    assert result.returncode == 2
    assert f"no such file or directory: {missing}" in result.stderr
    result = tw("generate", "--model", str(missing), "--prompt", "x", "--max-new-tokens", "0")
    assert result.returncode == 2 and "max_new_tokens must be >= 1" in result.stderr
    result = tw("generate", "--model", str(missing), "--prompt", "x", "--temperature", "nan")
    assert result.returncode == 2 and "temperature must be 0 (greedy) or between 0.001 and 100, got nan" in result.stderr
    result = tw("score", "--context", "a", "--continuation", "")
    assert result.returncode == 2 and "continuation is empty" in result.stderr


@pytest.mark.slow
def test_score_on_the_embedded_model_matches_transformers() -> None:
    result = tw("score", "--context", "The capital of France is", "--continuation", " Paris", "--quiet")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    from trustwatch.common.model_specs import resolve_model

    logprob, tokens, greedy = direct_logprob(resolve_model("embedded:smollm2-135m").path, "The capital of France is", " Paris")
    assert payload["logprob"] == pytest.approx(logprob, abs=1e-3)
    assert payload["tokens"] == tokens and payload["is_greedy"] is greedy is True


def test_metrics_prints_the_registry() -> None:
    from trustwatch.common.metrics import METRICS

    result = tw("metrics", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    by_key = {(m["probe"], m["metric"]): m for m in payload["metrics"]}
    assert {(m.probe, m.name) for m in METRICS} <= set(by_key)
    ambig = by_key[("bbq", "bias_score_ambig")]
    assert ambig["columns"] == ["biased_ambig", "non_unknown_ambig", "correct_ambig"]
    assert (ambig["statistic"], ambig["worse"], ambig["method"], ambig["role"]) == ("ratio", "higher", "bootstrap", "paper")
    assert {"name": "trustwatch_probe_metric", "labels": ["variant", "probe", "metric", "group"]} in ambig["series"]
    assert {"name": "trustwatch_divergence",
            "labels": ["baseline", "candidate", "probe", "metric", "group", "scale"]} in ambig["series"]
    assert {"name": "trustwatch_divergence_fdr_lower",
            "labels": ["baseline", "candidate", "probe", "metric", "group", "scale"]} in ambig["series"]
    assert [s["name"] for s in by_key[("stereotype_agreement", "unparsed_rate")]["series"]] == [
        "trustwatch_probe_metric", "trustwatch_probe_metric_items"
    ]
    text = tw("metrics")
    assert text.returncode == 0, text.stderr
    line = next(x for x in text.stdout.splitlines() if x.startswith("bias_score_ambig "))
    assert "bbq" in line and "biased_ambig, non_unknown_ambig, correct_ambig" in line and "ratio" in line
    assert "trustwatch_probe_metric{variant,probe,metric,group}" in text.stdout
    markdown = tw("metrics", "--markdown")
    assert markdown.returncode == 0 and markdown.stdout.startswith("| metric | probe |")
