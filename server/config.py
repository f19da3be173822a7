"""The run / serve configuration (YAML): variants, probe sets, generation, scorer, store, replay.

```yaml
baseline: original
variants:
  - name: original
    model: embedded:smollm2-135m        # a model spec
  - name: rtn4
    from: original                      # built from another variant, once, then cached
    compress: {method: rtn, bits: 4, group_size: 64}
backend: {kind: transformers, batch_size: 8, generate_batch_size: 32, device: auto}   # defaults for every variant
probes:
  - builtin: all                        # the built-in packs (or one probe name)
  - data: ../shared/probesets           # a dataset directory and the loader that reads it
    loader: crows_pairs
    limit: 200
    seed: 0
  - file: my_items.jsonl                # items in trustwatch's JSONL schema
generation: {k: 4, max_new_tokens: 32, temperature: 1.0, top_p: 0.9, seed: 0}
scorer: {name: profanity}
policy: null                            # a gate policy file; null: the default policy
```
``trustwatch serve`` reads the same file plus ``store``, ``replay``, ``limits``, ``auth`` and
``tls`` (see ``server/service_config.py``). Errors name the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trustwatch.common.errors import ConfigError
from trustwatch.common.model_specs import DEFAULT_MODEL_SPEC
from trustwatch.common.schema import Reader, load_yaml
from trustwatch.monitors.scorers import SCORERS
from trustwatch.probes.loaders import LOADERS
from trustwatch.server.backends import BACKENDS

__all__ = ["ConfigError", "ProbeSource", "RunConfig", "VariantConfig", "load_config", "parse_config"]


@dataclass(frozen=True)
class VariantConfig:
    name: str
    model: str | None = None
    from_variant: str | None = None
    compress: dict[str, Any] | None = None
    backend: str = "transformers"
    options: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        if self.backend == "openai":
            return f"{self.options.get('model')} at {self.options.get('base_url')}"
        if self.model is not None:
            return self.model
        params = ", ".join(f"{k}={v}" for k, v in (self.compress or {}).items())
        return f"{self.from_variant} + {params}"


@dataclass(frozen=True)
class ProbeSource:
    builtin: str | None = None
    data: Path | None = None
    loader: str | None = None
    file: Path | None = None
    limit: int | None = None
    seed: int = 0

    def describe(self) -> str:
        if self.builtin is not None:
            what = f"builtin:{self.builtin}"
        elif self.file is not None:
            what = f"file:{self.file}"
        else:
            what = f"{self.loader}@{self.data}"
        return what + (f" (limit {self.limit}, seed {self.seed})" if self.limit is not None else "")


@dataclass(frozen=True)
class RunConfig:
    baseline: str
    variants: tuple[VariantConfig, ...]
    probes: tuple[ProbeSource, ...]
    generation: dict[str, Any] = field(default_factory=dict)
    scorer: dict[str, Any] = field(default_factory=lambda: {"name": "profanity"})
    policy: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    """The configuration as read (for reports), with defaults filled in."""
    source: str = "<default>"

    def variant(self, name: str) -> VariantConfig:
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise KeyError(name)

    @property
    def candidates(self) -> list[str]:
        return [v.name for v in self.variants if v.name != self.baseline]


def default_raw_config() -> dict[str, Any]:
    """The embedded default: the embedded model beside its own compressed variants, built-in probes."""
    from trustwatch.compress.variants import default_variants

    compressed = [{"name": name, **spec} for name, spec in default_variants("original").items()]
    return {
        "baseline": "original",
        "variants": [{"name": "original", "model": DEFAULT_MODEL_SPEC}, *compressed],
        "probes": [{"builtin": "all"}],
        "generation": {"k": 3, "max_new_tokens": 24},
        "scorer": {"name": "profanity"},
    }


TOP_KEYS = {
    "baseline", "variants", "probes", "generation", "scorer", "policy", "backend",
    # serve-only sections, read by service_config
    "store", "replay", "limits", "auth", "tls", "service",
}
_VARIANT_KEYS = {"name", "model", "from", "compress", "backend", "options"}
_PROBE_KEYS = {"builtin", "data", "loader", "file", "limit", "seed"}


def load_config(path: str | Path | None) -> RunConfig:
    """Read a config file (None: the embedded default) and check it; errors name file and key."""
    if path is None:
        return parse_config(default_raw_config(), "<embedded default>", Path.cwd())
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    return parse_config(load_yaml(path, ConfigError), str(path), path.resolve().parent)


def parse_config(raw: Any, source: str, base: Path) -> RunConfig:
    reader = Reader(source, ConfigError)

    def fail(message: str) -> ConfigError:
        return reader.fail("", message)

    if not isinstance(raw, dict):
        raise fail("the config must be a mapping with 'baseline', 'variants' and 'probes'")
    reader.known_keys(raw, "", TOP_KEYS)
    backend_defaults = raw.get("backend") or {}
    if not isinstance(backend_defaults, dict):
        raise fail("'backend' must be a mapping such as {kind: transformers, batch_size: 8}")
    default_backend = backend_defaults.get("kind", "transformers")
    default_options = {k: v for k, v in backend_defaults.items() if k != "kind"}

    variants_raw = raw.get("variants")
    if not isinstance(variants_raw, list) or not variants_raw:
        raise fail("'variants' must be a non-empty list")
    variants: list[VariantConfig] = []
    for index, entry in enumerate(variants_raw):
        where = f"variants[{index}]"
        if not isinstance(entry, dict):
            raise fail(f"{where} must be a mapping with 'name' and 'model' (or 'from' and 'compress')")
        reader.known_keys(entry, where, _VARIANT_KEYS)
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise fail(f"{where}: 'name' must be a non-empty string")
        if any(v.name == name for v in variants):
            raise fail(f"{where}: variant name {name!r} is used twice")
        model, from_variant, compress = entry.get("model"), entry.get("from"), entry.get("compress")
        backend = entry.get("backend", default_backend)
        if backend not in BACKENDS:
            raise reader.fail(f"{where}.backend", f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})")
        options = {**default_options, **(entry.get("options") or {})}
        if backend == "openai":
            _check_endpoint(reader, f"{where}.options", name, options, from_variant, base)
        if backend == "vllm" and "python" in options:
            _check_interpreter(reader, f"{where}.options.python", name, options, base)
        if (model is None) == (from_variant is None) and not (backend == "openai" and model is None):
            raise fail(f"{where} ({name}): give either 'model' (a model spec) or 'from' + 'compress'")
        if from_variant is not None:
            if not any(v.name == from_variant for v in variants):
                raise fail(f"{where} ({name}): 'from: {from_variant}' names no variant declared before it")
            if not isinstance(compress, dict) or "method" not in compress:
                raise fail(f"{where} ({name}): 'compress' must be a mapping with a 'method'")
            from trustwatch.compress.options import parse_options

            try:
                parse_options(compress)
            except ConfigError as error:
                raise fail(f"{where} ({name}): compress: {error}") from error
        elif compress is not None:
            raise fail(f"{where} ({name}): 'compress' needs 'from' (the variant to compress)")
        if isinstance(model, str) and not model.startswith("embedded:") and not Path(model).is_absolute():
            candidate = base / model
            model = str(candidate) if candidate.exists() else model
        variants.append(VariantConfig(name, model, from_variant, compress, backend, options))

    baseline = raw.get("baseline", variants[0].name)
    if not any(v.name == baseline for v in variants):
        raise fail(f"'baseline: {baseline}' is not one of the variants ({', '.join(v.name for v in variants)})")

    probes_raw = raw.get("probes", [{"builtin": "all"}])
    if not isinstance(probes_raw, list) or not probes_raw:
        raise fail("'probes' must be a non-empty list")
    probes = []
    for index, entry in enumerate(probes_raw):
        where = f"probes[{index}]"
        if not isinstance(entry, dict):
            raise fail(f"{where} must be a mapping: {{builtin: all}}, {{data: DIR, loader: NAME}} or {{file: F}}")
        reader.known_keys(entry, where, _PROBE_KEYS)
        sources = [k for k in ("builtin", "data", "file") if k in entry]
        if len(sources) != 1:
            raise fail(f"{where}: give exactly one of 'builtin', 'data' (with 'loader') or 'file'")
        limit = entry.get("limit")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise fail(f"{where}: 'limit' must be a positive integer, got {limit!r}")
        seed = reader.integer(entry.get("seed", 0), f"{where}.seed")
        data = _resolve(base, entry.get("data"))
        file = _resolve(base, entry.get("file"))
        if "data" in entry and not entry.get("loader"):
            raise fail(f"{where}: 'data' needs a 'loader' (see: trustwatch probes list)")
        if "data" in entry and entry["loader"] not in LOADERS:
            raise reader.fail(f"{where}.loader", f"unknown loader {entry['loader']!r} (known: {', '.join(LOADERS)})")
        probes.append(ProbeSource(entry.get("builtin"), data, entry.get("loader"), file, limit, seed))

    generation = raw.get("generation") or {}
    scorer = raw.get("scorer") or {"name": "profanity"}
    if not isinstance(generation, dict):
        raise fail("'generation' must be a mapping such as {k: 4, max_new_tokens: 32}")
    if not isinstance(scorer, dict) or "name" not in scorer:
        raise fail("'scorer' must be a mapping with a 'name' (profanity, detoxify, hf-classifier)")
    if scorer["name"] not in SCORERS:
        raise reader.fail("scorer.name", f"unknown scorer {scorer['name']!r} (known: {', '.join(SCORERS)})")
    policy = _resolve(base, raw.get("policy"))
    return RunConfig(baseline, tuple(variants), tuple(probes), generation, scorer, policy, raw, source)


def _check_endpoint(
    reader: Reader, where: str, name: str, options: dict[str, Any], from_variant: Any, base: Path
) -> None:
    """An ``openai`` variant: the server's ``base_url`` and served ``model`` name; no ``from``."""
    if from_variant is not None:
        raise reader.fail(where.removesuffix(".options"), f"({name}) a served model (backend: openai) cannot be built 'from' another")
    for key in ("base_url", "model"):
        if not isinstance(options.get(key), str) or not options[key].strip():
            example = "{base_url: http://HOST:8000/v1, model: SERVED_NAME}"
            raise reader.fail(f"{where}.{key}", f"({name}) backend openai needs options {example}")
    if not options["base_url"].startswith(("http://", "https://")):
        raise reader.fail(f"{where}.base_url", f"({name}) must start with http:// or https://, got {options['base_url']!r}")
    if "api_key_file" in options:
        options["api_key_file"] = str(_resolve(base, options["api_key_file"]))


def _check_interpreter(reader: Reader, where: str, name: str, options: dict[str, Any], base: Path) -> None:
    """A ``vllm`` variant whose engine runs in another environment: ``options.python`` is its interpreter."""
    value = options["python"]
    if not isinstance(value, str) or not value.strip():
        raise reader.fail(where, f"({name}) must name the vLLM environment's interpreter, e.g. .venv-vllm/bin/python")
    path = _resolve(base, value)
    assert path is not None
    if not path.is_file():
        raise reader.fail(where, f"({name}) no interpreter at {path} (make vllm-env builds .venv-vllm)")
    options["python"] = str(path)


def _resolve(base: Path, value: Any) -> Path | None:
    if value is None:
        return None
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else base / path
