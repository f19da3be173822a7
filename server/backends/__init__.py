"""Model backends: one protocol (``common.backend.Backend``), three implementations.

``transformers`` (PyTorch, CPU or CUDA) is the embedded default; ``openai`` probes a model
where an OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp) already serves it and holds
no weights; ``vllm`` is the GPU production path, in-process or, where vLLM lives in an environment
of its own (``options.python``), in a worker process there. Each is imported only when asked for.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from trustwatch.common.backend import Backend
from trustwatch.common.requests import (
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)

BACKENDS = ("transformers", "openai", "vllm")

__all__ = [
    "BACKENDS",
    "Backend",
    "GenerateRequest",
    "GenerateResult",
    "LoglikelihoodRequest",
    "LoglikelihoodResult",
    "available_backends",
    "create_backend",
]


def available_backends() -> dict[str, dict[str, Any]]:
    """Which backends can run on this machine, and on what, without importing them."""
    info: dict[str, dict[str, Any]] = {}
    import torch

    cuda = torch.cuda.is_available()
    info["transformers"] = {
        "available": importlib.util.find_spec("transformers") is not None,
        "devices": ["cpu"] + ([f"cuda:{i}" for i in range(torch.cuda.device_count())] if cuda else []),
        "torch": torch.__version__,
    }
    info["openai"] = {"available": True, "devices": [], "note": "a model server's /v1/completions; no weights here"}
    has_vllm = importlib.util.find_spec("vllm") is not None
    info["vllm"] = {
        "available": has_vllm and cuda,
        "reason": None if has_vllm and cuda else ("no CUDA device" if has_vllm else "vllm is not installed (extra: vllm)"),
    }
    return info


def create_backend(backend: str, model: Any, /, **options: Any) -> Backend:
    """Build the backend kind ``backend`` for a model spec (or a resolved model)."""
    if backend == "transformers":
        from trustwatch.server.backends.transformers_backend import TransformersBackend

        return TransformersBackend(model, **options)
    if backend == "openai":
        from trustwatch.server.backends.openai_backend import OpenAIBackend

        # the variant's model, where given, is a local tokenizer folder; options name the server
        return OpenAIBackend(None if model is None else str(getattr(model, "spec", model)), **options)
    if backend == "vllm" and options.get("python"):
        from trustwatch.server.backends.vllm_worker import VLLMWorker

        # vLLM lives in an environment of its own: its engine runs in a worker process there
        return VLLMWorker(model, **options)
    if backend == "vllm":
        from trustwatch.server.backends.vllm_backend import VLLMBackend

        return VLLMBackend(model, **options)
    raise ValueError(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
