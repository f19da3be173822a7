"""Model specs: local folders, GGUF files, embedded models; never a hub."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest

from trustwatch.common.model_specs import ModelSpecError, resolve_model


def test_missing_path_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelSpecError, match=re.escape(f"no such file or directory: {missing}")):
        resolve_model(str(missing))


def test_hub_name_is_not_looked_up() -> None:
    with pytest.raises(ModelSpecError, match=r"HuggingFaceTB/SmolLM2-135M.*nothing is downloaded"):
        resolve_model("HuggingFaceTB/SmolLM2-135M")


def test_folder_without_config_and_non_gguf_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelSpecError, match=r"has no config\.json"):
        resolve_model(str(tmp_path))
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"x")
    with pytest.raises(ModelSpecError, match=r"not a \.gguf file"):
        resolve_model(str(weights))


def test_unknown_embedded_model_lists_the_known_ones() -> None:
    with pytest.raises(ModelSpecError, match="known: embedded:smollm2-135m"):
        resolve_model("embedded:gpt-9")


def test_offline_switches_are_set_on_import() -> None:
    import trustwatch.server  # noqa: F401

    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Any attempt to open a network connection fails the test (and is recorded)."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError(f"network blocked in test: connect to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def test_local_folder_loads_with_the_network_blocked(tiny_model_dir: Path, no_network: list[object]) -> None:
    from trustwatch.common.requests import LoglikelihoodRequest
    from trustwatch.server.backends.transformers_backend import TransformersBackend

    backend = TransformersBackend(str(tiny_model_dir))
    assert backend.loglikelihood([LoglikelihoodRequest("a", "b")])[0].tokens >= 1
    assert no_network == []


@pytest.mark.slow
def test_embedded_gguf_converts_once_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[object]
) -> None:
    """A fresh cache: the GGUF is dequantized, saved as a float folder, then reused, all offline."""
    monkeypatch.setenv("TRUSTWATCH_CACHE", str(tmp_path / "cache"))
    first = resolve_model("embedded:smollm2-135m")
    assert first.kind == "embedded" and first.source.suffix == ".gguf"
    assert (first.path / "config.json").is_file() and (first.path / "model.safetensors").is_file()
    assert first.path.parent == tmp_path / "cache" / "models"
    assert first.path.name == f"gguf-{first.source_sha256[:16]}"
    stamp = (first.path / "model.safetensors").stat().st_mtime_ns
    second = resolve_model("embedded:smollm2-135m")
    assert second.path == first.path
    assert (second.path / "model.safetensors").stat().st_mtime_ns == stamp
    # The same GGUF named by its path lands in the same cache entry.
    assert resolve_model(str(first.source)).path == first.path
    assert no_network == []
