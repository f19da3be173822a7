"""``trustwatch serve``: host the variants, replay continuously, serve gRPC and /metrics."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trustwatch.server.cli.common import EXIT_FAILURE, CliError, progress_enabled

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

    import grpc
    from grpc_health.v1.health import HealthServicer

    from trustwatch.server.service import ServiceCore

"""How often the terminal shows the first round's progress while it replays."""


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "serve",
        parents=[common],
        help="host the variants side by side, replay probes continuously, export gRPC and Prometheus",
        description="With no --config: the embedded model beside its compressed variants, on localhost.",
    )
    parser.add_argument("--config", type=Path, help="config (YAML): as for `run`, plus store/replay/limits/auth/tls")
    parser.add_argument("--grpc-address", help="HOST:PORT for gRPC (default 127.0.0.1:50051)")
    parser.add_argument("--metrics-address", help="HOST:PORT for /metrics and /gate (default 127.0.0.1:9464)")
    parser.add_argument("--store", type=Path, help="results store (SQLite) path; overrides the config's store.path")
    parser.add_argument("--report-dir", type=Path,
                        help="where the report of the first complete replay round goes (default: beside the store)")
    parser.add_argument("--exit-after-first-round", action="store_true",
                        help="stop once the first round is replayed and reported (for CI and scripts)")
    parser.set_defaults(handler=run)


def _split(address: str, what: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise CliError(f"{what} {address!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def run(args: argparse.Namespace) -> int:
    from trustwatch.server.exporter import Exporter
    from trustwatch.server.grpc_service import build_server
    from trustwatch.server.http_endpoints import serve_http
    from trustwatch.server.service import RETRY_LOAD_SECONDS, ServiceCore
    from trustwatch.server.service_config import load_serve_config
    from trustwatch.server.summaries import PROGRESS_SECONDS, RoundProgress

    def say(message: str) -> None:
        print(message, flush=True)

    config = load_serve_config(args.config, args.grpc_address, args.metrics_address, args.store)
    metrics_host, metrics_port = _split(config.metrics_address, "--metrics-address")
    _split(config.grpc_address, "--grpc-address")
    core = ServiceCore(config, Exporter(), progress=progress_enabled(args))
    try:
        server, health, port = build_server(core, config.grpc_address)
        http = serve_http(core, metrics_host, metrics_port)
    except OSError as error:
        core.shutdown()
        raise CliError(f"cannot listen: {error}") from error

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    grpc_host = config.grpc_address.rpartition(":")[0]
    metrics_url = f"http://{metrics_host}:{http.server_address[1]}/metrics"
    say(f"trustwatch serving gRPC on {grpc_host}:{port}, metrics on {metrics_url}")
    say(f"store: {config.store_path}; {len(core.items)} probe items; loading {len(core.variant_summaries())} variants")
    core.start()

    report_dir = args.report_dir or config.store_path.parent / "trustwatch-report"
    progress = RoundProgress()  # a line once replay moves, then every PROGRESS_SECONDS, until the first report
    next_progress = time.monotonic()
    reported = False
    announced = False
    code = 0
    started = time.perf_counter()
    while not stop.is_set():
        if core.failure:  # the store is corrupt (or the replay thread died): nothing can be recorded
            print(f"trustwatch serve cannot go on: {core.failure}", file=sys.stderr)
            code = EXIT_FAILURE
            break
        if core.loaded.is_set() and not announced:
            announced = True
            variants = core.variant_summaries()
            baseline = next(v for v in variants if v.baseline)
            # Health follows core.readiness (server/readiness.py): a failed baseline leaves it NOT_SERVING.
            for variant in variants:
                say(f"  variant {variant.name}: {variant.state}" + (f" ({variant.reason})" if variant.reason else ""))
            if baseline.state != "ready":
                message = f"baseline {core.baseline!r} failed to load: {baseline.reason}"
                if baseline.backend == "openai":  # a served model is tried again; a local one is not
                    print(f"{message} (tried again every {RETRY_LOAD_SECONDS:g} s)", file=sys.stderr)
                else:
                    print(f"trustwatch serve: error: {message}; nothing to compare against, exiting", file=sys.stderr)
                    code = EXIT_FAILURE
                    break
        report = core.report_first_round(report_dir, time.perf_counter() - started)
        if announced and not reported and report is None and time.monotonic() >= next_progress:
            line = progress.line(core.replay_status(), time.monotonic())
            # None: nothing moved yet; ask again on the next tick, not PROGRESS_SECONDS later
            if line is not None:
                next_progress = time.monotonic() + PROGRESS_SECONDS
                say(line)
        if report is not None:
            reported = True
            if report.replayed:
                say(f"first replay round done: {report.items} items per variant "
                    f"in {time.perf_counter() - started:.0f} s")
            else:
                say(f"replay round {report.round} is already complete in the store: "
                    f"{report.items} items per variant")
            for verdict in report.analysis.verdicts:
                flag = "  (degenerate)" if verdict.degenerate else ""
                say(f"  gate ({verdict.mode}, first round) {verdict.candidate:<20} {verdict.verdict}{flag}")
            for note in report.analysis.notes:
                say(f"  note: {note}")
            say(f"report: {report.report_html or report.report_json}")
            say(f"gRPC: {grpc_host}:{port}   metrics: {metrics_url}   gate: {metrics_url[:-len('/metrics')]}/gate")
            if args.exit_after_first_round:
                break
            say("serving until Ctrl-C")
        stop.wait(0.5)
    return _drain(core, server, health, http, config.drain_seconds, say, code)


def _drain(
    core: ServiceCore, server: grpc.Server, health: HealthServicer, http: ThreadingHTTPServer, seconds: float,
    say: Callable[[str], None], code: int,
) -> int:
    """Out within ``seconds`` (``service.drain_seconds``) with exit status ``code``: readiness false
    and streams ended at once, replay stopped (``ServiceCore.begin_drain``), live calls given what is
    left, then the store closed."""
    from trustwatch.server.grpc_service import set_serving

    deadline = time.monotonic() + seconds
    say(f"shutting down: draining requests for up to {seconds:g} s, committing the store")
    core.begin_drain()
    set_serving(health, False)
    server.stop(grace=max(0.0, deadline - time.monotonic())).wait()
    http.shutdown()
    if core.shutdown(timeout=max(0.0, deadline - time.monotonic())):
        say("stopped; the store is closed")
        return code
    # A thread is still in a backend call: a normal interpreter exit would abort inside PyTorch
    # (see ServiceCore.shutdown); what replay stored is committed, the unfinished slice is not.
    say(f"drain limit of {seconds:g} s reached with a backend call still running: exiting without it")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

