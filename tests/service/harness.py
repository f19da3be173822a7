"""Start a real `trustwatch serve` process on free localhost ports and talk to it."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from trustwatch.protos.trustwatch.v1 import trustwatch_pb2 as pb
from trustwatch.protos.trustwatch.v1 import trustwatch_pb2_grpc as pb_grpc

EXE = Path(sys.executable).with_name("trustwatch")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tiny_run_config(model_dir: Path, limit: int = 3, **extra: Any) -> dict[str, Any]:
    """The tiny random model beside its own 4-bit RTN variant, on ``limit`` built-in items per probe."""
    config: dict[str, Any] = {
        "baseline": "original",
        "variants": [
            {"name": "original", "model": str(model_dir)},
            {"name": "rtn4", "from": "original", "compress": {"method": "rtn", "bits": 4, "group_size": 32}},
        ],
        "probes": [{"builtin": "all", "limit": limit}],
        "generation": {"k": 2, "max_new_tokens": 6},
    }
    config.update(extra)
    return config


def tiny_config(model_dir: Path, store: Path, **extra: Any) -> dict[str, Any]:
    """:func:`tiny_run_config` with the serve sections: a store and quick replay rounds."""
    serve = {"store": {"path": str(store)}, "replay": {"items_per_cycle": 4, "round_pause_seconds": 1}}
    return tiny_run_config(model_dir, **{**serve, **extra})


def embedded_config(store: Path, **extra: Any) -> dict[str, Any]:
    """The real embedded model beside its 4-bit RTN variant, on 2 built-in items per probe."""
    config: dict[str, Any] = {
        "baseline": "original",
        "variants": [
            {"name": "original", "model": "embedded:smollm2-135m"},
            {"name": "rtn4", "from": "original", "compress": {"method": "rtn", "bits": 4, "group_size": 64}},
        ],
        "probes": [{"builtin": "all", "limit": 2}],
        "generation": {"k": 2, "max_new_tokens": 8},
        "store": {"path": str(store)},
    }
    config.update(extra)
    return config


@dataclass
class Served:
    process: subprocess.Popen[str]
    grpc_address: str
    metrics_url: str
    log: Path
    token: str | None = None
    ca: Path | None = None
    """The CA certificate of a server that speaks TLS (gRPC and HTTP); None: plain."""

    def channel(self) -> grpc.Channel:
        if self.ca is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates=self.ca.read_bytes())
            return grpc.secure_channel(self.grpc_address, credentials)
        return grpc.insecure_channel(self.grpc_address)

    def _open(self, url: str, token: str | None) -> Any:
        request = urllib.request.Request(url)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        context = ssl.create_default_context(cafile=str(self.ca)) if self.ca is not None else None
        return urllib.request.urlopen(request, timeout=10, context=context)

    def stub(self) -> pb_grpc.TrustWatchStub:
        return pb_grpc.TrustWatchStub(self.channel())

    def metadata(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.token}")] if self.token else []

    def metrics(self) -> str:
        with self._open(self.metrics_url, self.token) as response:
            return str(response.read().decode())

    def get(self, path: str, token: str | None = "") -> tuple[int, str]:
        """GET a path of the HTTP port, with the server's token ("") or the one given (None: none)."""
        url = self.metrics_url.rsplit("/metrics", 1)[0] + path
        try:
            with self._open(url, self.token if token == "" else token) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def health(self) -> int:
        stub = health_pb2_grpc.HealthStub(self.channel())
        try:
            return stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2).status
        except grpc.RpcError:
            return -1

    def wait_serving(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"trustwatch serve exited {self.process.returncode}:\n{self.log.read_text()}")
            if self.health() == health_pb2.HealthCheckResponse.SERVING:
                return
            time.sleep(0.5)
        raise AssertionError(f"not SERVING after {timeout} s:\n{self.log.read_text()}")

    def wait_for(self, predicate: Any, timeout: float = 240, what: str = "condition", interval: float = 0.5) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"trustwatch serve exited {self.process.returncode}:\n{self.log.read_text()}")
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise AssertionError(f"{what} not reached after {timeout} s ({self.replay_status()}):\n"
                             f"{self.log.read_text()[-3000:]}")

    def replay_status(self) -> str:
        """The service's replay status in one line, for failure messages."""
        try:
            status = self.stub().GetReplayStatus(pb.GetReplayStatusRequest(), metadata=self.metadata(), timeout=10)
        except grpc.RpcError as error:
            return f"GetReplayStatus failed: {error.code()}"
        done = sum(p.items_done for p in status.progress)
        total = sum(p.items_total for p in status.progress)
        return (f"running={status.running} round={status.round} cycles={status.cycles} "
                f"items {done}/{total} last_error={status.last_error!r}")


@contextmanager
def serve(config: dict[str, Any], workdir: Path, *extra_args: str, token: str | None = None,
          ca: Path | None = None) -> Iterator[Served]:
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    grpc_address = f"127.0.0.1:{free_port()}"
    metrics_port = free_port()
    log = workdir / f"serve-{time.time_ns()}.log"
    handle = log.open("w")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen(
        [str(EXE), "serve", "--config", str(config_path), "--grpc-address", grpc_address,
         "--metrics-address", f"127.0.0.1:{metrics_port}", "--quiet", *extra_args],
        stdout=handle, stderr=subprocess.STDOUT, text=True, env=env,
    )
    scheme = "https" if ca is not None else "http"
    served = Served(process, grpc_address, f"{scheme}://127.0.0.1:{metrics_port}/metrics", log, token, ca)
    try:
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        handle.close()


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """The value of the first sample of ``name`` whose labels include ``labels``."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


__all__ = ["Served", "embedded_config", "free_port", "metric_value", "pb", "serve", "tiny_config"]
