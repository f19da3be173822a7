"""Deterministic draws: which items a ``--limit`` keeps, and the seed of each generated sample.

Both depend only on the seed and the item ids, never on file order or on the variant, so
that every variant is asked the same items with the same sampling seeds.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Iterable
from typing import TypeVar

from trustwatch.probes.items import Item

T = TypeVar("T")


def stable_hash(*parts: object) -> int:
    """A 64-bit integer from the parts' text (SHA-256), the same on every machine and run."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def sample_seed(seed: int, item_id: str, sample: int) -> int:
    """The generation seed of sample ``sample`` of item ``item_id`` (31 bits, fits any backend)."""
    return stable_hash("sample", seed, item_id, sample) % (2**31 - 1)


def sample_items(items: Iterable[Item], limit: int | None, seed: int = 0) -> list[Item]:
    """At most ``limit`` items, spread evenly over the groups; all of them when ``limit`` is None.

    Each item gets a pseudo-random key from ``(seed, id)``. Groups take turns, in name
    order, each giving its item with the next-smallest key, until ``limit`` items are
    taken (a small group runs out and the others go on). The kept items come back in
    their input order. Streams: memory holds at most ``limit`` items per group.
    """
    return draw(items, limit, seed, lambda item: (item.group, item.id))


def draw(entries: Iterable[T], limit: int | None, seed: int, key: Callable[[T], tuple[str, str]]) -> list[T]:
    """:func:`sample_items` over any entries, ``key(entry) -> (group, id)``."""
    if limit is None:
        return list(entries)
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    kept: dict[str, list[tuple[int, int, T]]] = {}
    for position, entry in enumerate(entries):
        group, entry_id = key(entry)
        heap = kept.setdefault(group, [])
        ranked_entry = (-stable_hash("draw", seed, entry_id), position, entry)
        if len(heap) < limit:
            heapq.heappush(heap, ranked_entry)
        elif limit and ranked_entry[0] > heap[0][0]:
            heapq.heapreplace(heap, ranked_entry)
    ranked = {group: sorted(heap, key=lambda e: (-e[0], e[1])) for group, heap in kept.items()}
    chosen: list[tuple[int, T]] = []
    rank = 0
    while len(chosen) < limit and any(rank < len(v) for v in ranked.values()):
        for group in sorted(ranked):
            if rank < len(ranked[group]) and len(chosen) < limit:
                _, position, entry = ranked[group][rank]
                chosen.append((position, entry))
        rank += 1
    return [entry for _, entry in sorted(chosen, key=lambda pair: pair[0])]
