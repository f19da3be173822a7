"""gRPC entry point: thin handlers that translate messages to ``ServiceCore`` calls.

Besides ``trustwatch.v1.TrustWatch``: the standard ``grpc.health.v1`` health service
(the core's readiness: NOT_SERVING until every variant has been loaded or has failed, while the
baseline is not ready, and while the store cannot be written; the name ``liveness`` is SERVING
from start-up), server reflection, an optional bearer token on everything but health, optional
TLS, and limits on prompt length, new tokens, batch size and message size, each refused
with INVALID_ARGUMENT and a message. Unknown variants are NOT_FOUND. Live calls beyond
``limits.max_queued_calls`` are shed with RESOURCE_EXHAUSTED (``server/live_admission.py``); the
worker pool holds ``RESERVED_WORKERS`` threads beyond that bound, so that health checks and the
other calls never wait behind queued live calls.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import asdict
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from trustwatch.common.errors import NotFoundError
from trustwatch.common.requests import GenerateRequest, LoglikelihoodRequest
from trustwatch.monitors.divergence import DivergenceRow
from trustwatch.monitors.gate import Verdict
from trustwatch.protos.trustwatch.v1 import trustwatch_pb2 as pb
from trustwatch.protos.trustwatch.v1 import trustwatch_pb2_grpc as pb_grpc
from trustwatch.server.grpc_errors import abort_for, call
from trustwatch.server.service import ServiceCore

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["TrustWatch"].full_name
LIVENESS = "liveness"
"""A health service name that is SERVING from start-up: Kubernetes liveness probes ask for it, so a
long model load is not mistaken for a dead process; readiness probes ask for ""."""
RESERVED_WORKERS = 16
"""gRPC worker threads beyond ``limits.max_queued_calls``: free for health, status and gate calls."""
_STATES = {"loading": pb.Variant.LOADING, "ready": pb.Variant.READY, "failed": pb.Variant.FAILED}
_DECISIONS = {"PASS": pb.GateVerdict.PASS, "FAIL": pb.GateVerdict.FAIL, "INCONCLUSIVE": pb.GateVerdict.INCONCLUSIVE}


def _finite(value: float | None) -> float:
    return float(value) if value is not None and math.isfinite(value) else math.nan


def divergence_message(row: DivergenceRow) -> pb.DivergenceRow:
    return pb.DivergenceRow(
        baseline=row.baseline, candidate=row.candidate, probe=row.probe, metric=row.metric, group=row.group,
        baseline_value=_finite(row.baseline_value), candidate_value=_finite(row.candidate_value),
        degradation=_finite(row.degradation), lower=_finite(row.lower), upper=_finite(row.upper),
        n_items=row.n_items, confidence=row.confidence, method=row.method, worse=row.worse,
    )


def verdict_message(verdict: Verdict, revision: int, evaluated_at: float = 0.0) -> pb.GateVerdict:
    return pb.GateVerdict(
        candidate=verdict.candidate,
        baseline=verdict.baseline,
        verdict=_DECISIONS[verdict.verdict],
        degenerate=verdict.degenerate,
        reasons=[
            pb.GateReason(
                rule=r.rule, group=r.group, status=r.status, reason=r.reason, tolerance=r.tolerance,
                divergence=divergence_message(r.divergence) if r.divergence is not None else None,
            )
            for r in verdict.reasons
        ],
        items_needed=verdict.items_needed or 0,
        mode=verdict.mode,
        revision=revision,
        evaluated_at=evaluated_at,
    )


class TrustWatchServicer(pb_grpc.TrustWatchServicer):
    def __init__(self, core: ServiceCore) -> None:
        self.core = core

    # -- helpers ---------------------------------------------------------------------------

    def _call(self, context: grpc.ServicerContext, fn: Callable[[], Any]) -> Any:
        return call(context, fn)  # errors -> status codes in one place: server/grpc_errors.py

    def _check_batch(self, context: grpc.ServicerContext, n: int) -> None:
        self._call(context, lambda: self.core.check_batch(n))

    def _generate_requests(self, context: grpc.ServicerContext, variant: str, prompts: list[str],
                           settings: pb.GenerationSettings) -> list[GenerateRequest]:
        chat = settings.chat if settings.HasField("chat") else None
        return self._call(context, lambda: self.core.generate_requests(
            variant, prompts, max_new_tokens=settings.max_new_tokens, temperature=settings.temperature,
            top_p=settings.top_p, seed=settings.seed, stop=list(settings.stop), chat=chat,
        ))

    def _loglikelihood_requests(
        self, context: grpc.ServicerContext, variant: str, pairs: list[tuple[str, str]]
    ) -> list[LoglikelihoodRequest]:
        return self._call(context, lambda: self.core.loglikelihood_requests(variant, pairs))

    # -- RPCs --------------------------------------------------------------------------------

    def ListVariants(self, request: pb.ListVariantsRequest, context: grpc.ServicerContext) -> pb.ListVariantsResponse:
        out = []
        for variant in self.core.variant_summaries():
            manifest = variant.compression
            compression = None
            if manifest:
                compression = pb.CompressionSummary(
                    method=str(manifest.get("method", "")),
                    bits=int(manifest.get("bits") or 0),
                    group_size=int(manifest.get("group_size") or 0),
                    sparsity=float(manifest.get("sparsity") or 0.0),
                    parameters_json=json.dumps(manifest.get("parameters", {}), sort_keys=True),
                    source=str(manifest.get("source", "")),
                )
            out.append(pb.Variant(
                name=variant.name, model=variant.model, backend=variant.backend,
                state=_STATES[variant.state], reason=variant.reason, compression=compression,
                baseline=variant.baseline,
            ))
        return pb.ListVariantsResponse(variants=out, baseline=self.core.baseline)

    def Generate(self, request: pb.GenerateRequest, context: grpc.ServicerContext) -> pb.GenerateResponse:
        [req] = self._generate_requests(context, request.variant, [request.prompt], request.settings)
        [result] = self._call(context, lambda: self.core.generate(request.variant, [req]))
        return pb.GenerateResponse(variant=request.variant, text=result.text, tokens=result.tokens,
                                   finish_reason=result.finish_reason)

    def GenerateBatch(self, request: pb.GenerateBatchRequest, context: grpc.ServicerContext) -> pb.GenerateBatchResponse:
        self._check_batch(context, len(request.prompts))
        reqs = self._generate_requests(context, request.variant, list(request.prompts), request.settings)
        results = self._call(context, lambda: self.core.generate(request.variant, reqs))
        return pb.GenerateBatchResponse(results=[
            pb.GenerateResponse(variant=request.variant, text=r.text, tokens=r.tokens, finish_reason=r.finish_reason)
            for r in results
        ])

    def Score(self, request: pb.ScoreRequest, context: grpc.ServicerContext) -> pb.ScoreResponse:
        [req] = self._loglikelihood_requests(context, request.variant, [(request.context, request.continuation)])
        [result] = self._call(context, lambda: self.core.loglikelihood(request.variant, [req]))
        return pb.ScoreResponse(variant=request.variant, logprob=result.logprob, tokens=result.tokens,
                                is_greedy=result.is_greedy)

    def ScoreBatch(self, request: pb.ScoreBatchRequest, context: grpc.ServicerContext) -> pb.ScoreBatchResponse:
        self._check_batch(context, len(request.pairs))
        reqs = self._loglikelihood_requests(context, request.variant, [(p.context, p.continuation) for p in request.pairs])
        results = self._call(context, lambda: self.core.loglikelihood(request.variant, reqs))
        return pb.ScoreBatchResponse(results=[
            pb.ScoreResponse(variant=request.variant, logprob=r.logprob, tokens=r.tokens, is_greedy=r.is_greedy)
            for r in results
        ])

    def _status(self) -> pb.ReplayStatus:
        status = self.core.replay_status()
        return pb.ReplayStatus(
            running=status.running, round=status.round, cycles=status.cycles,
            progress=[pb.ProbeProgress(**asdict(p)) for p in status.progress],
            last_cycle_seconds=status.last_cycle_seconds, last_error=status.last_error,
            outcomes_stored=status.outcomes_stored, stalled=status.stalled,
        )

    def StartReplay(self, request: pb.StartReplayRequest, context: grpc.ServicerContext) -> pb.ReplayStatus:
        self.core.start_replay(new_round=request.new_round)
        return self._status()

    def GetReplayStatus(self, request: pb.GetReplayStatusRequest, context: grpc.ServicerContext) -> pb.ReplayStatus:
        return self._status()

    def GetDivergence(self, request: pb.GetDivergenceRequest, context: grpc.ServicerContext) -> pb.GetDivergenceResponse:
        rows = self._call(context, lambda: self.core.divergence(request.candidate, request.probe, request.group))
        return pb.GetDivergenceResponse(rows=[divergence_message(row) for row in rows])

    def GetGate(self, request: pb.GetGateRequest, context: grpc.ServicerContext) -> pb.GateVerdict:
        verdict, revision = self._call(context, lambda: self.core.gate(request.candidate))
        return verdict_message(verdict, revision, self.core.evaluated_at)

    def WatchGate(self, request: pb.WatchGateRequest, context: grpc.ServicerContext) -> Iterator[pb.GateVerdict]:
        candidates = [request.candidate] if request.candidate else []
        stream = self._call(context, lambda: self.core.watch_gate(candidates, context.is_active))
        try:
            for verdict, revision in stream:
                yield verdict_message(verdict, revision, self.core.evaluated_at)
        except NotFoundError as error:
            abort_for(context, error)


class _TokenInterceptor(grpc.ServerInterceptor):
    """Bearer-token check on every method except the health service."""

    def __init__(self, token: str) -> None:
        self.expected = f"Bearer {token}"

        def deny(request: Any, context: grpc.ServicerContext) -> None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token (metadata 'authorization')")

        self._deny = deny

    def intercept_service(self, continuation: Callable[..., Any], details: grpc.HandlerCallDetails) -> Any:
        if details.method.startswith("/grpc.health.v1.Health/"):
            return continuation(details)
        metadata = dict(details.invocation_metadata or ())
        if metadata.get("authorization") == self.expected:
            return continuation(details)
        handler = continuation(details)
        if handler is None:
            return None
        if handler.response_streaming:
            def deny_stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                self._deny(request, context)
                yield from ()

            return grpc.unary_stream_rpc_method_handler(deny_stream)
        return grpc.unary_unary_rpc_method_handler(self._deny)


def build_server(
    core: ServiceCore, address: str, workers: int | None = None
) -> tuple[grpc.Server, health.HealthServicer, int]:
    """The gRPC server (not started), its health servicer, and the port it bound; ``workers``
    defaults to ``limits.max_queued_calls`` + ``RESERVED_WORKERS``."""
    config = core.config
    workers = workers or config.limits.max_queued_calls + RESERVED_WORKERS
    size = config.limits.max_message_bytes
    interceptors = [_TokenInterceptor(config.token)] if config.token else []
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc"),
        interceptors=interceptors,
        options=[("grpc.max_receive_message_length", size), ("grpc.max_send_message_length", size)],
    )
    pb_grpc.add_TrustWatchServicer_to_server(TrustWatchServicer(core), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    # Readiness ("" and the service name) follows the core's (server/readiness.py): SERVING once the
    # variants are loaded, NOT_SERVING while any reason holds. Liveness: the process answers.
    core.readiness.watch(lambda ready: set_serving(health_servicer, ready))
    health_servicer.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME), server
    )
    if config.tls_cert is not None and config.tls_key is not None:
        credentials = grpc.ssl_server_credentials([(config.tls_key.read_bytes(), config.tls_cert.read_bytes())])
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot bind gRPC address {address}")
    return server, health_servicer, port


def set_serving(health_servicer: health.HealthServicer, serving: bool) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, status)
