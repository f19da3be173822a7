"""trustwatch.probes: the item schema, dataset loaders, built-in packs and probe kinds.

- ``Item``, ``read_items``, ``write_items``: the schema and its JSONL form (``items``);
- ``LOADERS``: public datasets read from a directory the user names (``loaders``);
- ``builtin_pack`` / ``builtin_items``: packs written for trustwatch (``builtin``);
- ``PROBE_KINDS``, ``ProbeSettings``, ``ItemOutcome``: items to requests, responses to outcomes (``kinds``);
- ``aggregate``: metric values per variant, probe and group from outcome rows (``aggregate``).

See ``probes/README.md``.
"""

from __future__ import annotations

from trustwatch.probes.aggregate import aggregate
from trustwatch.probes.builtin import builtin_items, builtin_pack
from trustwatch.probes.errors import DataError, MissingDataError
from trustwatch.probes.items import PROBES, Item, read_items, write_items
from trustwatch.probes.kinds import PROBE_KINDS, Generation, ItemOutcome, ProbeSettings
from trustwatch.probes.loaders import LOADERS
from trustwatch.probes.sampling import sample_items, sample_seed

__all__ = [
    "LOADERS",
    "PROBES",
    "PROBE_KINDS",
    "DataError",
    "Generation",
    "Item",
    "ItemOutcome",
    "MissingDataError",
    "ProbeSettings",
    "aggregate",
    "builtin_items",
    "builtin_pack",
    "read_items",
    "sample_items",
    "sample_seed",
    "write_items",
]
