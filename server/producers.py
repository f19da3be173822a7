"""What produces a variant's outcomes on a probe: its *producer*, as a fingerprint.

An outcome depends on the variant's definition (its model, backend and options that change
answers, and, for a variant built ``from`` another, that variant's definition and the
compression), on the probe's items, on the generation settings (generation probes only) and on
the scorer (probes whose texts it rates). The store keys every row to its producer
(``Store.bind``), so that ``trustwatch serve`` restarted with a variant redefined under the same
name, new generation settings, or another probe set starts that variant's (or probe's) data
afresh instead of mixing it with outcomes made another way.

A variant that watches a model where it is served (backend ``openai``) is defined by a URL and a
served name, which a rollout keeps while it replaces the model behind them. Its producer also
holds the *served model*: what the server's ``/v1/models`` says it serves under that name
(``root``, ``parent``, ``max_model_len``, ``meta`` where listed; ``SERVED_MODEL_FIELDS`` in
``server/backends/openai_backend.py``). It is read when the variant loads and again as
``trustwatch serve`` replays (``Runtime.check_served``): when it changes, the variant's
outcomes start afresh, and those of the model served before stay in the store, no longer counted.
Until a variant's server has been asked, it is bound with the served model of the store's last
binding (:func:`bound_served_models`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from trustwatch.common.requests import TRANSFORMERS_SAMPLER
from trustwatch.probes.items import Item
from trustwatch.probes.kinds import PROBE_KINDS, ProbeSettings
from trustwatch.server.config import RunConfig

SPEED_OPTIONS = frozenset({"batch_size", "generate_batch_size", "threads", "timeout_s", "max_concurrency", "retries",
                           "api_key_file", "gpu_memory_utilization"})
"""Backend options that change how fast or how a variant is reached, not what it answers."""


def variant_definition(config: RunConfig, name: str) -> dict[str, Any]:
    """A variant's definition, with the definition of the variant it is built from."""
    variant = config.variant(name)
    out: dict[str, Any] = {
        "backend": variant.backend,
        "model": variant.model,
        "options": {k: v for k, v in sorted(variant.options.items()) if k not in SPEED_OPTIONS},
    }
    if variant.from_variant is not None:
        out["from"] = variant_definition(config, variant.from_variant)
        out["compress"] = variant.compress
    return out


def items_digest(items: Sequence[Item]) -> str:
    """A digest of a probe's items (ids, groups, templates, payloads), in any order."""
    rows = sorted(
        json.dumps([item.id, item.group, item.template, item.payload], sort_keys=True, default=str) for item in items
    )
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]


def producer_fingerprints(
    config: RunConfig, settings: dict[str, ProbeSettings], items: Sequence[Item],
    served: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[tuple[str, str], dict[str, Any]]:
    """The fingerprint of each (variant, probe) the config replays: ``variant`` (its definition),
    ``items`` (the probe's item digest), ``generation`` and ``scorer`` (null where the probe does
    not use them), ``sampler`` for a generation probe the transformers backend samples, and
    ``served_model`` for a variant of the openai backend whose served model is known (``served``:
    variant name -> the identity its server lists, ``OpenAIBackend.read_served_model``)."""
    served = served or {}
    by_probe: dict[str, list[Item]] = {}
    for item in items:
        by_probe.setdefault(item.probe, []).append(item)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for variant in config.variants:
        definition = variant_definition(config, variant.name)
        for probe, probe_items in by_probe.items():
            kind = PROBE_KINDS[probe]
            out[(variant.name, probe)] = {
                "variant": definition,
                "items": items_digest(probe_items),
                "generation": settings[probe].to_json() if kind.request == "generate" else None,
                "scorer": config.scorer if kind.needs_scores else None,
            }
            if kind.request == "generate" and variant.backend == "transformers":
                # Only here, so that the producers of every other (variant, probe) keep their keys.
                out[(variant.name, probe)]["sampler"] = TRANSFORMERS_SAMPLER
            if variant.backend == "openai" and variant.name in served:
                # Likewise only here: a served model's answers are its own, whatever URL and name serve it.
                out[(variant.name, probe)]["served_model"] = dict(served[variant.name])
    return out


def bound_served_models(
    config: RunConfig, bound: Mapping[tuple[str, str], Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The served model each openai variant of the config was last bound with (``bound``: the store's
    bound fingerprints, ``Store.bound_fingerprints``): until its server is asked again, a variant is
    taken to serve what it served, so a restart neither drops nor re-keys its data."""
    openai = {v.name for v in config.variants if v.backend == "openai"}
    return {variant: dict(f["served_model"]) for (variant, _), f in bound.items()
            if variant in openai and isinstance(f.get("served_model"), Mapping)}
