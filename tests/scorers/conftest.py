"""Scorer test fixtures: a blocked network and a tiny random toxicity classifier folder."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from .tiny_classifiers import build_classifier


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every socket connection raises, and the hub libraries are told they are offline."""

    def refuse(self: socket.socket, *args: Any, **kwargs: Any) -> None:
        raise OSError(f"network blocked in this test: connect{args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def toxic_classifier(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Any]:
    """(folder, model, tokenizer): a random 2-label classifier, labels ``not_toxic`` and ``toxic``."""
    folder = tmp_path_factory.mktemp("tiny-classifier")
    model, tokenizer = build_classifier(folder, ["not_toxic", "toxic"])
    return folder, model, tokenizer
