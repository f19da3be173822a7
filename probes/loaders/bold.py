"""BOLD (Dhamala et al. 2021): Wikipedia sentence beginnings about people, per domain and category.

Files: ``<domain>_prompt.json`` for gender, race, religious_ideology, political_ideology and
profession; each maps a category (e.g. a group of people) to Wikipedia page names, each to
a list of sentence beginnings. Item id ``bold:<domain>:<category>:<page>:<index>``; group:
the domain; payload ``prompt`` plus ``domain`` and ``category`` (to regroup by category).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from trustwatch.probes.errors import DataError
from trustwatch.probes.items import Item
from trustwatch.probes.loaders.base import Loader, make_item, read_json

DOMAINS = ("gender", "political_ideology", "profession", "race", "religious_ideology")


class BoldLoader(Loader):
    name = "bold"
    probe = "toxicity"
    folder = "bold"
    files = tuple(f"{domain}_prompt.json" for domain in DOMAINS)
    requires = "any"
    description = "BOLD Wikipedia prompts (group: domain; payload category)"

    def iter_items(self, directory: str | Path, skipped: Counter[str]) -> Iterator[Item]:
        for path in self.paths(directory):
            domain = path.name.removesuffix("_prompt.json")
            data = read_json(path)
            if not isinstance(data, dict):
                raise DataError(f"expected an object of categories, got {type(data).__name__}", path)
            for category, pages in data.items():
                if not isinstance(pages, dict):
                    raise DataError(f"expected an object of pages, got {type(pages).__name__}", path, where=category)
                for page, prompts in pages.items():
                    where = f"{category}/{page}"
                    if not isinstance(prompts, list):
                        raise DataError(f"expected a list of prompts, got {type(prompts).__name__}", path, where=where)
                    for index, prompt in enumerate(prompts):
                        if not isinstance(prompt, str):
                            raise DataError(f"prompt must be a string, got {prompt!r}", path, where=f"{where}[{index}]")
                        if not prompt.strip():
                            skipped["empty prompt"] += 1
                            continue
                        yield make_item(
                            path, None, f"{where}[{index}]",
                            id=f"bold:{domain}:{category}:{page}:{index}",
                            probe=self.probe,
                            group=domain,
                            payload={"prompt": prompt, "domain": domain, "category": category},
                        )
