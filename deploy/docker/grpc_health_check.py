#!/usr/bin/env python3
"""Container health check: exit 0 when a gRPC server reports SERVING, 1 otherwise.

Speaks the standard gRPC health protocol (``grpc.health.v1.Health/Check``, the same one
Kubernetes' ``grpc`` probes use), so the Docker ``HEALTHCHECK`` of both trustwatch images and
the Kubernetes probes ask the service the same question. trustwatch answers NOT_SERVING until
every variant is loaded.

Usage: ``grpc_health_check.py [--address 127.0.0.1:50051] [--service NAME] [--timeout 3]``
"""

from __future__ import annotations

import argparse
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def check(address: str, service: str = "", timeout: float = 3.0) -> tuple[bool, str]:
    """Ask ``address`` for the health of ``service`` ("" = the whole server); return (serving, why)."""
    try:
        with grpc.insecure_channel(address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    except grpc.RpcError as error:
        return False, f"{address}: {error.code().name}: {error.details()}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return reply.status == health_pb2.HealthCheckResponse.SERVING, f"{address}: {status}"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: print the status and return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1:50051", help="host:port of the gRPC server")
    parser.add_argument("--service", default="", help='service name to check ("" = the whole server)')
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the answer")
    args = parser.parse_args(argv)
    serving, why = check(args.address, args.service, args.timeout)
    print(why)
    return 0 if serving else 1


if __name__ == "__main__":
    sys.exit(main())
