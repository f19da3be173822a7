"""The runtime of a config, built once: policy, generation settings, probe items, scorer, store,
variant registry and replay engine.

``trustwatch run`` and ``trustwatch serve`` (:class:`~trustwatch.server.service.ServiceCore`)
both build theirs here, so the two never wire the parts differently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trustwatch.common.errors import UnavailableError
from trustwatch.monitors.policy import Policy, capacity_notes, load_policy
from trustwatch.monitors.scorers import create_scorer
from trustwatch.probes.items import Item
from trustwatch.probes.kinds import PROBE_KINDS, ProbeSettings
from trustwatch.server.config import ConfigError, RunConfig
from trustwatch.server.probe_sources import collect_items
from trustwatch.server.producers import bound_served_models, producer_fingerprints
from trustwatch.server.replay import RUN_CHUNK, ReplayEngine, ReplayObserver
from trustwatch.server.store import OnCorrupt, ProducerChange, Store
from trustwatch.server.variants import Variant, VariantRegistry

log = logging.getLogger("trustwatch.runtime")

MAX_CAPACITY_WARNINGS = 3
"""More start-up notes of rules whose groups are too small than this are summed up in one warning."""


def generation_settings(config: RunConfig) -> dict[str, ProbeSettings]:
    """Each probe kind's settings: its defaults overridden by the config's ``generation`` mapping."""
    out = {}
    for name, kind in PROBE_KINDS.items():
        base = kind.default_settings.to_json()
        unknown = sorted(set(config.generation) - set(base))
        if unknown:
            raise ConfigError(f"{config.source}: generation: unknown key(s) {', '.join(unknown)} "
                              f"(known: {', '.join(base)})")
        try:
            out[name] = ProbeSettings(**{**base, **config.generation})
        except (TypeError, ValueError) as error:
            raise ConfigError(f"{config.source}: generation: {error}") from error
    return out


@dataclass(frozen=True)
class ServedChange:
    """An openai variant whose served model changed (``before`` None: it was not known)."""

    variant: str
    before: dict[str, Any] | None
    after: dict[str, Any]


def _identity(served: dict[str, Any]) -> str:
    """The served model as a log names it, its fields in one order (the store keeps them sorted)."""
    from trustwatch.server.backends.openai_backend import SERVED_MODEL_FIELDS

    rank = {key: index for index, key in enumerate(SERVED_MODEL_FIELDS)}
    fields = sorted(served.items(), key=lambda pair: rank.get(pair[0], len(rank)))
    return ", ".join(f"{key} {value!r}" for key, value in fields) or "a model it names no further"


@dataclass
class Runtime:
    """Everything a config needs at run time; the variants are built but not loaded yet."""

    config: RunConfig
    policy: Policy
    settings: dict[str, ProbeSettings]
    items: list[Item]
    scorer: Any
    store: Store
    registry: VariantRegistry
    engine: ReplayEngine
    producer_changes: list[ProducerChange] = field(default_factory=list)
    """The (variant, probe) pairs whose producer changed since the store's data: they start afresh."""
    served: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The served model each openai variant's producers are bound with (absent: not known yet)."""
    _unlisted: dict[str, str] = field(default_factory=dict, repr=False)
    """Openai variants whose server no longer lists their served name, with the message logged."""

    @property
    def probes(self) -> frozenset[str]:
        """The probes the config's items belong to: the gate holds a verdict INCONCLUSIVE while one
        of them has no outcome (``evaluate_gate``'s ``expected_probes``)."""
        return frozenset(item.probe for item in self.items)

    def check_served(self, variants: Iterable[Variant], ask: bool = True) -> list[ServedChange]:
        """Bind each ready openai variant to the model its server serves now, and return the changes.

        ``ask``: read ``/v1/models`` now (one attempt); else take what the backend read when it loaded.
        A variant whose served model changed (or became known) has its producers bound anew: its
        outcomes start afresh, those of the model served before stay in the store, no longer read.
        A server that cannot be reached, or no longer lists the served name, changes nothing here
        (replay records its errors)."""
        from trustwatch.server.backends.openai_backend import OpenAIBackend

        served = dict(self.served)
        changes: list[ServedChange] = []
        for variant in variants:
            backend = variant.backend
            if variant.state != "ready" or not isinstance(backend, OpenAIBackend):
                continue
            try:
                now = backend.read_served_model() if ask else dict(backend.served_model)
            except UnavailableError as error:  # down, or restarting: replay counts its errors
                log.debug("variant %s: cannot read its served model: %s", variant.name, error)
                continue
            except ValueError as error:  # the served name is gone (vLLM refuses its completions, by name)
                if self._unlisted.get(variant.name) != str(error):
                    self._unlisted[variant.name] = str(error)
                    log.warning("variant %s: %s", variant.name, error)
                continue
            self._unlisted.pop(variant.name, None)
            if served.get(variant.name) != now:
                changes.append(ServedChange(variant.name, served.get(variant.name), now))
                served[variant.name] = now
        if not changes:
            return []
        bound = self.store.bind(producer_fingerprints(self.config, self.settings, self.items, served))
        self.served = served  # only once bound: a failed bind is tried again at the next check
        for change in changes:
            afresh = sorted({c.probe for c in bound if c.variant == change.variant})
            if change.before is not None:
                log.warning("variant %s: its server (%s) now serves another model under the same name: %s, "
                            "was %s; its outcomes start afresh (those of the model served before stay in the "
                            "store, no longer counted)", change.variant, self.config.variant(change.variant).describe(),
                            _identity(change.after), _identity(change.before))
            elif afresh:
                log.warning("variant %s serves %s; its outcomes of %s start afresh: the store's earlier ones are "
                            "not known to be that model's (they stay in the store, no longer counted)",
                            change.variant, _identity(change.after), ", ".join(afresh))
            else:
                log.info("variant %s serves %s", change.variant, _identity(change.after))
        return changes

    @property
    def baseline(self) -> str:
        return self.config.baseline

    @property
    def candidates(self) -> list[str]:
        return self.config.candidates

    def close(self) -> None:
        """Close the backends and the store."""
        self.registry.close()
        self.store.close()


def group_sizes(items: list[Item]) -> dict[str, dict[str, int]]:
    """Items per probe and group."""
    sizes: dict[str, dict[str, int]] = {}
    for item in items:
        groups = sizes.setdefault(item.probe, {})
        groups[item.group] = groups.get(item.group, 0) + 1
    return sizes


def build_runtime(
    config: RunConfig,
    store_path: Path,
    *,
    progress: bool = False,
    replay_share: float = 1.0,
    observer: ReplayObserver | None = None,
    chunk_size: int = RUN_CHUNK,
    idle_chunk_size: int | None = None,
    require_items: bool = False,
    on_corrupt: OnCorrupt = "fail",
    check_store: Callable[[Store, RunConfig, list[Item]], None] | None = None,
) -> Runtime:
    """The runtime of ``config`` with its store at ``store_path`` (created when absent).

    ``require_items``: a config whose probe sources give no item is an error (raised before the
    store is opened). ``replay_share``, ``chunk_size`` and ``idle_chunk_size``: see :class:`VariantRegistry` and
    :class:`ReplayEngine`. ``on_corrupt``: see :class:`Store`. The store is bound to the config's
    producers (``server/producers.py``) after ``check_store`` (which may refuse the store) has run;
    an openai variant with the served model of the store's last binding until it loads
    (:meth:`Runtime.check_served`, which the caller runs once the variants are loaded).
    """
    policy = load_policy(config.policy)
    settings = generation_settings(config)
    items = collect_items(config.probes, config.source)
    if require_items and not items:
        raise ConfigError(f"{config.source}: the probe sources gave no items")
    notes = capacity_notes(policy, group_sizes(items))
    if len(notes) > MAX_CAPACITY_WARNINGS:  # small probe sets (the built-in packs): one line, details at INFO
        log.warning("%s: %d rules need more items per group than the probe sets hold (first: %s); their rows "
                    "stay insufficient and the verdict cannot PASS: lower min_items or add items",
                    policy.source, len(notes), notes[0].split(": rule ", 1)[-1].split(" needs", 1)[0])
        for note in notes:
            log.info("%s", note)
    else:
        for note in notes:
            log.warning("%s", note)
    scorer = create_scorer(config.scorer["name"], **{k: v for k, v in config.scorer.items() if k != "name"})
    store = Store(store_path, on_corrupt=on_corrupt)
    try:
        if check_store is not None:
            check_store(store, config, items)
        served = bound_served_models(config, store.bound_fingerprints())
        changes = store.bind(producer_fingerprints(config, settings, items, served))
    except BaseException:
        store.close()
        raise
    registry = VariantRegistry(config, progress=progress, replay_share=replay_share)
    engine = ReplayEngine(store, scorer, settings, observer=observer, chunk_size=chunk_size,
                          idle_chunk_size=idle_chunk_size)
    return Runtime(config, policy, settings, items, scorer, store, registry, engine, changes, served)
