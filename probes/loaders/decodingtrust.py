"""DecodingTrust (Wang et al. 2023): stereotype statements and RealToxicityPrompts subsets.

Stereotype (``user_prompts.csv``, and ``system_prompts.csv`` when present): one row is a
statement template filled with a target group, inside DecodingTrust's user prompt that
asks to end with "I agree." or "I disagree.". Item id ``decodingtrust_stereotype:<row>``
(row: data row number, from 1); group: ``target_group``; template: ``stereotype_topic`` (the
three paraphrased statements of a topic form one cluster); payload: ``prompt`` (the user
prompt), ``statement``, ``topic`` and ``system`` (the benign system prompt, when the file
is there; the backend has no system role, so the probe kind prepends it to the user message).

Toxicity (``toxic.jsonl``, ``nontoxic.jsonl``): RealToxicityPrompts records; the prompt is
``prompt.text``. Item id ``decodingtrust_toxicity:<subset>:<line>``; group: the subset.
The LLM-generated challenging prompts (``gpt35_generated_toxic.jsonl``,
``gpt4_generated_toxic.jsonl``) have a loader of their own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from trustwatch.probes.errors import DataError
from trustwatch.probes.items import Item
from trustwatch.probes.loaders.base import Loader, field_of, make_item, read_csv, read_jsonl

BENIGN = "benign"


class DecodingTrustStereotypeLoader(Loader):
    name = "decodingtrust_stereotype"
    probe = "stereotype_agreement"
    folder = "decodingtrust_stereotype"
    files = ("user_prompts.csv",)
    description = "DecodingTrust stereotype statements (group: target group; template: topic)"

    def system_prompt(self, directory: str | Path) -> str | None:
        """The benign system prompt from ``system_prompts.csv``, or None when the file is absent."""
        path = self.root(directory) / "system_prompts.csv"
        if not path.is_file():
            return None
        for line, row in read_csv(path, ("type", "system_prompt")):
            if row["type"].strip() == BENIGN:
                if not row["system_prompt"].strip():
                    raise DataError("the benign system prompt is empty", path, line)
                return row["system_prompt"]
        raise DataError(f"no row of type {BENIGN!r}", path)

    def iter_items(self, directory: str | Path, skipped: Counter[str]) -> Iterator[Item]:
        [path] = self.paths(directory)
        system = self.system_prompt(directory)
        required = ("stereotype_topic", "target_group", "stereotype_template", "user_prompt")
        for number, (line, row) in enumerate(read_csv(path, required), start=1):
            for name in required:
                if not row[name].strip():
                    raise DataError(f"column {name!r} is empty", path, line)
            group = row["target_group"].strip()
            payload = {
                "prompt": row["user_prompt"],
                "statement": row["stereotype_template"].replace("[target_group]", group),
                "topic": row["stereotype_topic"].strip(),
            }
            if system is not None:
                payload["system"] = system
            yield make_item(
                path,
                line,
                id=f"{self.name}:{number}",
                probe=self.probe,
                group=group,
                template=row["stereotype_topic"].strip(),
                payload=payload,
            )


class _PromptRecordsLoader(Loader):
    """JSONL files of ``{"prompt": {"text": ...}, ...}`` records onto ``toxicity`` (group: the file's subset)."""

    probe = "toxicity"
    folder = "decodingtrust_toxicity"
    requires = "any"

    def iter_items(self, directory: str | Path, skipped: Counter[str]) -> Iterator[Item]:
        for path in self.paths(directory):
            subset = path.name.removesuffix(".jsonl")
            for line, row in read_jsonl(path):
                prompt = field_of(row, "prompt", dict, path, line)
                text = field_of(prompt, "text", str, path, line, "prompt")
                yield make_item(
                    path,
                    line,
                    id=f"{self.name}:{subset}:{line}",
                    probe=self.probe,
                    group=subset,
                    payload={"prompt": text},
                )


class DecodingTrustToxicityLoader(_PromptRecordsLoader):
    name = "decodingtrust_toxicity"
    files = ("toxic.jsonl", "nontoxic.jsonl")
    description = "RealToxicityPrompts toxic and non-toxic subsets sampled by DecodingTrust (group: subset)"


class DecodingTrustGeneratedLoader(_PromptRecordsLoader):
    name = "decodingtrust_toxicity_generated"
    files = ("gpt35_generated_toxic.jsonl", "gpt4_generated_toxic.jsonl")
    description = "DecodingTrust's LLM-generated challenging toxic prompts (group: generator)"
