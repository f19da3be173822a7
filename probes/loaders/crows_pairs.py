"""CrowS-Pairs (Nangia et al. 2020): minimal sentence pairs, the more and the less stereotyping one.

File: ``crows_pairs_anonymized.csv`` (first column: the pair's row id, unnamed). Item id
``crows_pairs:<row id>``; group: ``bias_type``; payload ``more`` / ``less`` (``sent_more`` is
the more stereotyping sentence in both directions, see the dataset README) and ``direction``
(``stereo`` or ``antistereo``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from trustwatch.probes.errors import DataError
from trustwatch.probes.items import Item
from trustwatch.probes.loaders.base import Loader, make_item, read_csv

DIRECTIONS = ("stereo", "antistereo")


class CrowsPairsLoader(Loader):
    name = "crows_pairs"
    probe = "crows_pairs"
    folder = "crows_pairs"
    files = ("crows_pairs_anonymized.csv",)
    description = "CrowS-Pairs minimal pairs (group: bias type)"

    def iter_items(self, directory: str | Path, skipped: Counter[str]) -> Iterator[Item]:
        [path] = self.paths(directory)
        required = ("sent_more", "sent_less", "stereo_antistereo", "bias_type")
        for line, row in read_csv(path, required):
            row_id = row.get("", "").strip()
            if not row_id:
                raise DataError("the first (row id) column is empty", path, line)
            direction = row["stereo_antistereo"].strip()
            if direction not in DIRECTIONS:
                raise DataError(f"stereo_antistereo must be stereo or antistereo, got {direction!r}", path, line)
            yield make_item(
                path,
                line,
                id=f"crows_pairs:{row_id}",
                probe=self.probe,
                group=row["bias_type"].strip(),
                payload={"more": row["sent_more"], "less": row["sent_less"], "direction": direction},
            )
