"""One bad live request fails alone (issue 15, item 1): a poisoned ``Generate`` is refused with
INVALID_ARGUMENT naming the field before it can share a batch, and a request that passes every
check but fails in the backend (a continuation longer than the model's context) fails only its
own call, never the calls batched with it. Real server, real tiny model."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2

from trustwatch.common.requests import LoglikelihoodRequest
from trustwatch.server.backends.transformers_backend import TransformersBackend
from trustwatch.server.config import VariantConfig
from trustwatch.server.live_batcher import LiveBatcher
from trustwatch.server.variants import Variant

from .harness import Served, pb, serve, tiny_config

TOO_LONG = "~" * 600
"""A continuation of more tokens than the tiny model's 256 positions: the backend refuses it."""


@pytest.fixture(scope="module")
def served(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Served:
    work = tmp_path_factory.mktemp("live-faults")
    config = tiny_config(tiny_model_dir, work / "store.sqlite", replay={"autostart": False},
                         limits={"max_prompt_chars": 2000, "max_new_tokens": 200, "max_batch": 32})
    with serve(config, work) as running:
        running.wait_serving()
        yield running


def _together(calls: list[Callable[[], Any]], busy: Callable[[], Any] | None = None) -> list[Any]:
    """Run the calls at once, each in its own thread; each result, or the RpcError it raised.
    ``busy`` starts half a second ahead and comes first in the results: while it runs, the
    others queue, and the variant's worker takes them as one batch."""
    results: list[Any] = [None] * (len(calls) + 1)
    start = threading.Barrier(len(calls))

    def run(i: int, fn: Callable[[], Any], barrier: threading.Barrier | None) -> None:
        if barrier is not None:
            barrier.wait()
        try:
            results[i] = fn()
        except grpc.RpcError as error:
            results[i] = error

    threads = []
    if busy is not None:
        threads.append(threading.Thread(target=run, args=(0, busy, None)))
        threads[0].start()
        time.sleep(0.5)
    for i, fn in enumerate(calls, start=1):
        threads.append(threading.Thread(target=run, args=(i, fn, start)))
        threads[-1].start()
    for thread in threads:
        thread.join(120)
    return results if busy is not None else results[1:]


def _busy(stub: Any) -> Callable[[], Any]:
    """A call that keeps the variant's worker busy for a while (16 rows, 200 new tokens)."""
    return lambda: stub.GenerateBatch(pb.GenerateBatchRequest(
        variant="original", prompts=["Hello world"] * 16,
        settings=pb.GenerationSettings(max_new_tokens=200, temperature=0.7, seed=1)), timeout=120)


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", math.nan), ("temperature", 1e-300), ("temperature", math.inf), ("top_p", 1e-300),
     ("top_p", math.nan), ("temperature", -1.0), ("top_p", 1.5)],
)
def test_a_poisoned_generate_fails_alone_with_invalid_argument(served: Served, field: str, value: float) -> None:
    stub = served.stub()
    valid = [
        (lambda n=n: stub.Generate(pb.GenerateRequest(
            variant="original", prompt=f"The quick {n}",
            settings=pb.GenerationSettings(max_new_tokens=8, temperature=0.8, top_p=0.9, seed=n)), timeout=120))
        for n in range(6)
    ]
    settings = {"max_new_tokens": 8, "temperature": 0.8, "top_p": 0.9, field: value}
    poisoned = lambda: stub.Generate(pb.GenerateRequest(  # noqa: E731
        variant="original", prompt="The lazy dog", settings=pb.GenerationSettings(**settings)), timeout=120)
    busy, *answers, refused = _together([*valid, poisoned], busy=_busy(stub))
    assert isinstance(busy, pb.GenerateBatchResponse)
    for answer in answers:
        assert isinstance(answer, pb.GenerateResponse), answer
        assert answer.tokens >= 1
    assert isinstance(refused, grpc.RpcError)
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"{field} must be" in refused.details(), refused.details()
    assert served.health() == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"stop": [""]}, "stop[0] is empty"), ({"stop": ["x", ""]}, "stop[1] is empty")],
)
def test_an_empty_stop_string_is_refused(served: Served, settings: dict[str, Any], message: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        served.stub().Generate(pb.GenerateRequest(variant="original", prompt="x",
                                                  settings=pb.GenerationSettings(**settings)))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in caught.value.details()


def test_an_empty_prompt_is_generated_from_bos(served: Served) -> None:
    answer = served.stub().Generate(pb.GenerateRequest(
        variant="original", prompt="", settings=pb.GenerationSettings(max_new_tokens=4, chat=False)))
    assert answer.tokens >= 1


def test_a_request_the_backend_refuses_fails_only_its_own_call(served: Served) -> None:
    """The too-long continuation passes the service's checks (2000 characters allowed) but not the
    model's 256 positions: its call gets the backend's error, the calls batched with it their answers."""
    stub = served.stub()
    fell_back = False
    for _ in range(8):  # the batch forms by timing: a loaded machine may need a few tries
        valid = [
            (lambda n=n: stub.Score(pb.ScoreRequest(variant="original", context=f"Hello {n}",
                                                    continuation=" world"), timeout=120))
            for n in range(6)
        ]
        bad = lambda: stub.Score(pb.ScoreRequest(variant="original", context="a",  # noqa: E731
                                                 continuation=TOO_LONG), timeout=120)
        busy, *answers, refused = _together([*valid, bad], busy=_busy(stub))
        assert isinstance(busy, pb.GenerateBatchResponse)
        for answer in answers:
            assert isinstance(answer, pb.ScoreResponse), answer
            assert answer.tokens >= 1 and math.isfinite(answer.logprob)
        assert isinstance(refused, grpc.RpcError)
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "more than the model's 256" in refused.details()
        fell_back = "answering each call alone" in served.log.read_text()
        if fell_back:
            break
    assert fell_back, "the bad call never shared a batch: the test did not exercise the fallback"


def test_the_batcher_answers_a_failed_batch_call_by_call(tiny_model_dir: Path) -> None:
    """In process, with the batch made certain: the worker is held until every call has queued."""
    variant = Variant(VariantConfig("tiny", model=str(tiny_model_dir)), state="ready",
                      backend=TransformersBackend(str(tiny_model_dir)))
    batcher = LiveBatcher(variant, max_batch=32)
    good = [[LoglikelihoodRequest(f"Hello {n}", " world")] for n in range(4)]
    bad = [LoglikelihoodRequest("a", TOO_LONG)]
    results: dict[int, Any] = {}

    def submit(i: int, requests: list[LoglikelihoodRequest]) -> None:
        try:
            results[i] = batcher.submit("loglikelihood", requests)
        except Exception as error:
            results[i] = error

    threads = []
    with variant.scheduler.replay():  # the backend is busy: the worker takes a batch and waits for it
        for i, requests in enumerate([good[0], good[1], bad, good[2], good[3]]):
            threads.append(threading.Thread(target=submit, args=(i, requests)))
            threads[-1].start()
            time.sleep(0.05)
        # Whatever the worker took first, the bad call (the middle one) shares its batch with another.
        assert batcher.queued >= 2
    for thread in threads:
        thread.join(60)
    batcher.close()
    assert isinstance(results[2], ValueError) and "more than the model's 256" in str(results[2])
    for i in (0, 1, 3, 4):
        [answer] = results[i]
        assert answer.tokens >= 1 and math.isfinite(answer.logprob)
