"""The HTTP side of the service, on the metrics address: ``/metrics`` for Prometheus,
``/gate`` and ``/gate/<candidate>`` (JSON) for Argo Rollouts' web provider and scripts,
``/healthz`` (200 while the service is ready, 503 with the reasons while it is not).

The port follows the gRPC port's security: with ``auth`` configured, every path but ``/healthz``
needs the header ``Authorization: Bearer <token>`` (else 401); with ``tls`` configured, it
speaks HTTPS with the same certificate and key (the TLS handshake runs in the request's own
thread, so a slow client never holds the others back)."""

from __future__ import annotations

import hmac
import json
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from trustwatch.server.service import ServiceCore, UnknownVariantError


def gate_payload(core: ServiceCore, candidate: str) -> dict[str, Any]:
    """The candidate's verdict (or the pending one) as JSON, without the counted rows, with its revision."""
    verdict, revision = core.gate(candidate)
    body = verdict.to_dict()
    body.pop("rows", None)
    return {**body, "revision": revision}


OPEN_PATHS = frozenset({"/healthz"})
"""Paths answered without the bearer token (probes of the kubelet carry none)."""


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that fails the TLS handshake or hangs up is its own problem; log anything else."""
        error = sys.exc_info()[1]
        if not isinstance(error, ssl.SSLError | ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


def serve_http(core: ServiceCore, host: str, port: int) -> ThreadingHTTPServer:
    """Start the HTTP endpoints in a daemon thread; returns the server (``.server_address``)."""
    config = core.config
    expected = f"Bearer {config.token}".encode() if config.token else None

    class Handler(BaseHTTPRequestHandler):
        timeout = 30  # seconds a connection may idle (or take over its TLS handshake)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _authorized(self, path: str) -> bool:
            if expected is None or path in OPEN_PATHS:
                return True
            given = self.headers.get("Authorization", "").encode()
            if hmac.compare_digest(given, expected):
                return True
            body = json.dumps({"error": "missing or wrong bearer token (header 'Authorization')"}).encode()
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Bearer realm="trustwatch"')
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return False

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, payload: Any) -> None:
            self._send(code, json.dumps(payload, default=str).encode(), "application/json")

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/") or "/"
            if not self._authorized(path):
                return
            if path == "/metrics":
                self._send(200, generate_latest(core.exporter.registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                reasons = core.readiness.reasons()  # server/readiness.py: what gRPC health reads too
                ok = not reasons and not core.stopping
                self._json(200 if ok else 503, {"loaded": core.loaded.is_set(), "ready": ok, "reasons": reasons})
            elif path == "/gate":
                self._json(200, {"baseline": core.baseline,
                                 "candidates": {c: gate_payload(core, c) for c in core.candidates}})
            elif path.startswith("/gate/"):
                try:
                    self._json(200, gate_payload(core, unquote(path[len("/gate/"):])))
                except UnknownVariantError as error:
                    self._json(404, {"error": str(error)})
            else:
                self._json(404, {"error": f"no such path {path}; try /metrics, /gate, /gate/<candidate>, /healthz"})

    server = _Server((host, port), Handler)
    server.daemon_threads = True
    if config.tls_cert is not None and config.tls_key is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(config.tls_cert, config.tls_key)
        # The handshake waits for the handler's first read, in the request's thread, not in accept().
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    threading.Thread(target=server.serve_forever, name="trustwatch-http", daemon=True).start()
    return server
