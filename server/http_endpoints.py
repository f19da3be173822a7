"""The HTTP side of the service, on the metrics address: ``/metrics`` for Prometheus,
``/gate`` and ``/gate/<candidate>`` (JSON) for Argo Rollouts' web provider and scripts,
``/healthz`` (200 while the service is ready, 503 with the reasons while it is not)."""

from __future__ import annotations

import json
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


def serve_http(core: ServiceCore, host: str, port: int) -> ThreadingHTTPServer:
    """Start the HTTP endpoints in a daemon thread; returns the server (``.server_address``)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

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

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="trustwatch-http", daemon=True).start()
    return server
