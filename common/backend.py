"""The ``Backend`` protocol: a hosted model that answers both request kinds in batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from trustwatch.common.requests import (
    GenerateRequest,
    GenerateResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
)


@runtime_checkable
class Backend(Protocol):
    """A hosted model that answers both request kinds, in batches, in request order."""

    name: str
    """The backend kind: ``transformers``, ``openai`` or ``vllm``."""

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]: ...

    def generate(self, requests: Sequence[GenerateRequest]) -> list[GenerateResult]: ...

    def close(self) -> None: ...
