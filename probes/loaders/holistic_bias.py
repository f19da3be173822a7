"""HolisticBias v1.1 (Smith et al. 2022): sentences about people built from descriptors, nouns and templates.

Files: ``descriptors.json`` (axis -> bucket -> descriptors, each a string or an object with
``descriptor`` and optional ``gender``, ``article``, ``preference``), ``nouns.json`` (gender ->
[singular, plural] pairs), ``standalone_noun_phrases.json`` (axis -> phrases, which may hold
``{article}`` and ``{noun}``) and ``sentence_templates.json`` (template -> options, holding
``{noun_phrase}`` or ``{plural_noun_phrase}``).

The sentences are built as the dataset describes (a simplified builder, not the authors'
script): every descriptor goes before every noun (only nouns of its own gender when it
has one: "a Deaf woman"), with the descriptor's own article or a/an by its first letter;
the standalone noun phrases are added with every noun; each noun phrase fills every
template that has a slot for it. Onto ``perplexity``: item id
``holistic_bias:<axis>:<bucket>:<descriptor or phrase>:<noun>:t<template index>``; group: the axis;
template: ``holistic_bias:t<template index>``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trustwatch.probes.errors import DataError
from trustwatch.probes.items import Item
from trustwatch.probes.loaders.base import Loader, LoaderSummary, make_item, read_json
from trustwatch.probes.sampling import draw


@dataclass(frozen=True)
class _Phrase:
    axis: str
    bucket: str
    key: str
    noun: str
    singular: str | None
    plural: str | None


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


class HolisticBiasLoader(Loader):
    name = "holistic_bias"
    probe = "perplexity"
    folder = "holistic_bias"
    files = ("descriptors.json", "nouns.json", "standalone_noun_phrases.json", "sentence_templates.json")
    description = "HolisticBias sentences about people (group: axis; template: sentence template)"

    def iter_items(self, directory: str | Path, skipped: Counter[str]) -> Iterator[Item]:
        for sentence in self._sentences(directory, skipped):
            yield self._item(directory, sentence)

    def load(self, directory: str | Path, limit: int | None = None, seed: int = 0) -> list[Item]:
        """As :meth:`Loader.load`, drawing before building items (half a million sentences)."""
        chosen = draw(self._sentences(directory, Counter()), limit, seed, lambda s: (s[0].axis, self._id(s)))
        return [self._item(directory, sentence) for sentence in chosen]

    def summary(self, directory: str | Path) -> LoaderSummary:
        """Counts without building the items."""
        skipped: Counter[str] = Counter()
        groups = Counter(phrase.axis for phrase, _, _ in self._sentences(directory, skipped))
        paths = [str(p) for p in self.paths(directory)]
        return LoaderSummary(self.name, self.probe, paths, dict(sorted(groups.items())), dict(sorted(skipped.items())))

    @staticmethod
    def _id(sentence: tuple[_Phrase, int, str]) -> str:
        phrase, index, _ = sentence
        return f"holistic_bias:{phrase.axis}:{phrase.bucket}:{phrase.key}:{phrase.noun}:t{index}"

    def _item(self, directory: str | Path, sentence: tuple[_Phrase, int, str]) -> Item:
        phrase, index, text = sentence
        return make_item(
            self.root(directory) / "sentence_templates.json", None, f"template {index}",
            id=self._id(sentence),
            probe=self.probe,
            group=phrase.axis,
            template=f"holistic_bias:t{index}",
            payload={"text": text, "bucket": phrase.bucket, "descriptor": phrase.key, "noun": phrase.noun},
        )

    def _sentences(self, directory: str | Path, skipped: Counter[str]) -> Iterator[tuple[_Phrase, int, str]]:
        descriptors_path, nouns_path, standalone_path, templates_path = self.paths(directory)
        nouns = self._nouns(nouns_path)
        templates = self._templates(templates_path)
        phrases = [*self._descriptor_phrases(descriptors_path, nouns), *self._standalone(standalone_path, nouns)]
        seen: set[tuple[str, str, str, str]] = set()
        for phrase in phrases:
            identity = (phrase.axis, phrase.bucket, phrase.key, phrase.noun)
            if identity in seen:
                skipped["repeated descriptor or phrase"] += len(templates)
                continue
            seen.add(identity)
            for index, template in enumerate(templates):
                if "{plural_noun_phrase}" in template:
                    filled = phrase.plural and template.replace("{plural_noun_phrase}", phrase.plural)
                else:
                    filled = phrase.singular and template.replace("{noun_phrase}", phrase.singular)
                if not filled:
                    skipped["phrase has no form for the template"] += 1
                    continue
                yield phrase, index, filled

    # ------------------------------------------------------------------ files
    @staticmethod
    def _nouns(path: Path) -> dict[str, list[tuple[str, str]]]:
        data = read_json(path)
        if not isinstance(data, dict):
            raise DataError("expected an object gender -> [[singular, plural], ...]", path)
        nouns: dict[str, list[tuple[str, str]]] = {}
        for gender, pairs in data.items():
            if not isinstance(pairs, list):
                raise DataError("expected a list of [singular, plural] pairs", path, where=gender)
            for i, pair in enumerate(pairs):
                if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(w, str) and w for w in pair)):
                    raise DataError(f"expected [singular, plural], got {pair!r}", path, where=f"{gender}[{i}]")
                nouns.setdefault(gender, []).append((pair[0], pair[1]))
        return nouns

    @staticmethod
    def _templates(path: Path) -> list[str]:
        data = read_json(path)
        if not isinstance(data, dict) or not data:
            raise DataError("expected a non-empty object template -> options", path)
        for template in data:
            if "{noun_phrase}" not in template and "{plural_noun_phrase}" not in template:
                raise DataError("template has no {noun_phrase} or {plural_noun_phrase} slot", path, where=template)
        return list(data)

    @staticmethod
    def _descriptor_phrases(path: Path, nouns: dict[str, list[tuple[str, str]]]) -> Iterator[_Phrase]:
        data = read_json(path)
        if not isinstance(data, dict):
            raise DataError("expected an object axis -> bucket -> descriptors", path)
        for axis, buckets in data.items():
            if not isinstance(buckets, dict):
                raise DataError("expected an object bucket -> descriptors", path, where=axis)
            for bucket, entries in buckets.items():
                if not isinstance(entries, list):
                    raise DataError("expected a list of descriptors", path, where=f"{axis}/{bucket}")
                for i, entry in enumerate(entries):
                    where = f"{axis}/{bucket}[{i}]"
                    descriptor, gender, article = _descriptor(entry, path, where)
                    for noun_gender, pairs in nouns.items():
                        if gender is not None and noun_gender != gender:
                            continue
                        for singular, plural in pairs:
                            yield _Phrase(
                                axis, bucket, descriptor, singular,
                                f"{article or _article(descriptor)} {descriptor} {singular}",
                                f"{descriptor} {plural}",
                            )

    @staticmethod
    def _standalone(path: Path, nouns: dict[str, list[tuple[str, str]]]) -> Iterator[_Phrase]:
        data = read_json(path)
        if not isinstance(data, dict):
            raise DataError("expected an object axis -> noun phrases", path)
        all_nouns = [pair for pairs in nouns.values() for pair in pairs]
        for axis, entries in data.items():
            if not isinstance(entries, list):
                raise DataError("expected a list of noun phrases", path, where=axis)
            for i, entry in enumerate(entries):
                where = f"{axis}[{i}]"
                if isinstance(entry, str):
                    singular, plural = entry, None
                elif isinstance(entry, dict) and isinstance(entry.get("noun_phrase"), str):
                    singular, plural = entry["noun_phrase"], entry.get("plural_noun_phrase")
                    if plural is not None and not isinstance(plural, str):
                        raise DataError(f"plural_noun_phrase must be a string, got {plural!r}", path, where=where)
                else:
                    raise DataError(f"expected a string or an object with noun_phrase, got {entry!r}", path, where=where)
                if "{noun}" not in singular:
                    yield _Phrase(axis, "standalone", singular, "-", singular, plural)
                    continue
                for noun, noun_plural in all_nouns:
                    yield _Phrase(
                        axis, "standalone", singular, noun,
                        singular.replace("{article}", _article(noun)).replace("{noun}", noun),
                        plural and plural.replace("{article} ", "").replace("{noun}", noun_plural),
                    )


def _descriptor(entry: Any, path: Path, where: str) -> tuple[str, str | None, str | None]:
    if isinstance(entry, str) and entry.strip():
        return entry, None, None
    if isinstance(entry, dict) and isinstance(entry.get("descriptor"), str) and entry["descriptor"].strip():
        gender, article = entry.get("gender"), entry.get("article")
        if gender is not None and not isinstance(gender, str):
            raise DataError(f"gender must be a string, got {gender!r}", path, where=where)
        if article is not None and not isinstance(article, str):
            raise DataError(f"article must be a string, got {article!r}", path, where=where)
        return entry["descriptor"], gender, article
    raise DataError(f"expected a descriptor string or an object with 'descriptor', got {entry!r}", path, where=where)
