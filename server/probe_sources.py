"""Turn a config's probe sources into items: built-in packs, dataset loaders, JSONL files."""

from __future__ import annotations

from collections.abc import Iterable

from trustwatch.probes.builtin import builtin_pack
from trustwatch.probes.items import PROBES, Item, read_items
from trustwatch.probes.loaders import LOADERS
from trustwatch.probes.sampling import sample_items
from trustwatch.server.config import ConfigError, ProbeSource


def source_items(source: ProbeSource) -> list[Item]:
    if source.builtin is not None:
        # A limit on the built-in packs applies to each probe kind, so every kind stays covered.
        probes = PROBES if source.builtin == "all" else (source.builtin,)
        return [item for probe in probes for item in sample_items(builtin_pack(probe), source.limit, source.seed)]
    if source.file is not None:
        return sample_items(read_items(source.file), source.limit, source.seed)
    loader = LOADERS.get(source.loader or "")
    if loader is None:
        raise ConfigError(f"unknown loader {source.loader!r} (known: {', '.join(LOADERS)})")
    assert source.data is not None
    return loader.load(source.data, limit=source.limit, seed=source.seed)


def collect_items(sources: Iterable[ProbeSource]) -> list[Item]:
    """The items of every source, in order; an id given twice is an error naming both sources."""
    items: list[Item] = []
    seen: dict[str, str] = {}
    for source in sources:
        for item in source_items(source):
            if item.id in seen:
                raise ConfigError(
                    f"item id {item.id!r} comes from two probe sources: {seen[item.id]} and {source.describe()}"
                )
            seen[item.id] = source.describe()
            items.append(item)
    return items
