"""The built-in probe packs: small item sets written for trustwatch, one per probe kind.

They hold no dataset text (every sentence was written for this project), cover every
probe kind with several groups each (tens of items per kind), and let the embedded demo
and the fast tests run without any external data. Files: ``probes/packs/<probe>.jsonl``.
"""

from __future__ import annotations

from pathlib import Path

from trustwatch.probes.items import PROBES, Item, read_items

PACKS_DIR = Path(__file__).resolve().parent / "packs"


def pack_path(probe: str) -> Path:
    if probe not in PROBES:
        raise ValueError(f"no built-in pack for {probe!r}; the probes are {', '.join(PROBES)}")
    return PACKS_DIR / f"{probe}.jsonl"


def builtin_pack(probe: str) -> list[Item]:
    """The built-in items of one probe kind."""
    return read_items(pack_path(probe))


def builtin_items() -> list[Item]:
    """The built-in items of every probe kind, probe by probe."""
    return [item for probe in PROBES for item in builtin_pack(probe)]
