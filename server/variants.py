"""The variant registry: one backend per configured variant, with its state and provenance.

A variant declared as ``{from: <variant>, compress: {...}}`` is built once by
``trustwatch.compress`` (cached, keyed by its manifest) and then loaded like any model
folder. A variant that fails to build or load is kept with state ``failed`` and the
reason; the others go on serving.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from trustwatch.compress.manifest import read_manifest
from trustwatch.server.backend_scheduler import BackendScheduler
from trustwatch.server.backends import Backend, create_backend
from trustwatch.server.config import RunConfig, VariantConfig

State = Literal["loading", "ready", "failed"]


@dataclass
class Variant:
    config: VariantConfig
    state: State = "loading"
    reason: str = ""
    backend: Backend | None = None
    model_spec: str = ""
    """The spec the backend loaded (for compressed variants: the built folder)."""
    compression: dict[str, Any] | None = None
    """The compression manifest, for variants built by trustwatch.compress or loaded from such a folder."""
    load_seconds: float = 0.0
    scheduler: BackendScheduler = field(default_factory=BackendScheduler, repr=False)
    """One batch at a time on the backend; live requests first (backends are not thread-safe)."""

    @property
    def name(self) -> str:
        return self.config.name

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.config.describe(),
            "model_spec": self.model_spec,
            "backend": self.config.backend,
            "state": self.state,
            "reason": self.reason,
            "compression": summarise_manifest(self.compression),
            "load_seconds": round(self.load_seconds, 2),
        }


def summarise_manifest(manifest: dict[str, Any] | None) -> dict[str, Any] | None:
    """The manifest fields a report or ListVariants shows, and its one-line summary."""
    if not manifest:
        return None
    from trustwatch.compress.manifest import summarise_manifest as one_line

    quantization = manifest.get("quantization") or {}
    source = manifest.get("source") or {}
    return {
        "method": manifest.get("method"),
        "label": manifest.get("label"),
        "parameters": manifest.get("params", {}),
        "bits": quantization.get("bits"),
        "group_size": quantization.get("group_size"),
        "sparsity": (manifest.get("sparsity") or {}).get("overall"),
        "source": source.get("spec"),
        "source_sha256": source.get("sha256"),
        "wall_time_s": manifest.get("wall_time_s"),
        "summary": one_line(manifest),
    }


class VariantRegistry:
    """Builds and loads the variants of a config, in declaration order."""

    def __init__(self, config: RunConfig, progress: bool = False, replay_share: float = 1.0) -> None:
        self.config = config
        self.progress = progress
        self.variants: dict[str, Variant] = {
            v.name: Variant(v, scheduler=BackendScheduler(replay_share)) for v in config.variants
        }

    def __iter__(self) -> Iterator[Variant]:
        return iter(self.variants.values())

    def __getitem__(self, name: str) -> Variant:
        return self.variants[name]

    def ready(self) -> list[Variant]:
        return [v for v in self if v.state == "ready"]

    def load_all(self, on_loaded: Callable[[Variant], None] | None = None) -> None:
        for variant in self:
            self.load(variant)
            if on_loaded is not None:
                on_loaded(variant)

    def load(self, variant: Variant) -> None:
        started = time.perf_counter()
        try:
            spec = self._model_spec(variant.config)
            variant.model_spec = spec or variant.config.describe()
            variant.backend = create_backend(
                variant.config.backend, spec, progress=self.progress, **variant.config.options
            )
            if variant.compression is None and spec and Path(spec).is_dir():
                variant.compression = read_manifest(Path(spec))
            variant.state, variant.reason = "ready", ""
        except Exception as error:  # a failed variant is reported, the others go on
            variant.state = "failed"
            variant.reason = f"{type(error).__name__}: {error}"
        variant.load_seconds = time.perf_counter() - started

    def _model_spec(self, config: VariantConfig) -> str | None:
        """The spec the backend loads; for a served model (openai), its tokenizer folder or None."""
        if config.model is not None or config.backend == "openai":
            return config.model
        source = self.variants[config.from_variant or ""]
        if source.state == "failed":
            raise RuntimeError(f"cannot build from variant {source.name!r}: it failed to load ({source.reason})")
        from trustwatch.compress.variants import build_variant

        folder = build_variant(source.model_spec, dict(config.compress or {}), progress=self.progress)
        self.variants[config.name].compression = read_manifest(folder)
        return str(folder)

    def close(self) -> None:
        for variant in self:
            if variant.backend is not None:
                variant.backend.close()
                variant.backend = None
