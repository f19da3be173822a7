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


def collect_items(sources: Iterable[ProbeSource], config_source: str = "") -> list[Item]:
    """The items of every source, in order. An id given twice is an error naming both sources; a
    data directory that does not exist, or a source that gives no item (an empty file), is one
    naming ``config_source`` (the config file) and the key: ``FILE: probes[0].file: reason``."""
    items: list[Item] = []
    seen: dict[str, str] = {}
    for index, source in enumerate(sources):
        key = "file" if source.file is not None else "data" if source.data is not None else "builtin"
        where = ": ".join(part for part in (config_source, f"probes[{index}].{key}") if part)
        if source.data is not None and not source.data.is_dir():
            raise ConfigError(f"{where}: no such directory: {source.data}")
        found = source_items(source)
        if not found:
            raise ConfigError(f"{where}: {source.describe()} gives no probe items"
                              + (" (the file is empty)" if source.file is not None else ""))
        for item in found:
            if item.id in seen:
                raise ConfigError(
                    f"item id {item.id!r} comes from two probe sources: {seen[item.id]} and {source.describe()}"
                )
            seen[item.id] = source.describe()
            items.append(item)
    return items
