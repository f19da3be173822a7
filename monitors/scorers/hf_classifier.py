"""``hf-classifier``: any local transformers sequence-classification folder, one label by name.

The folder is loaded with ``AutoModelForSequenceClassification`` and ``AutoTokenizer``,
``local_files_only=True``. The toxic label is chosen by its name in ``config.id2label``
(exactly, else case-insensitively when that is unambiguous); probabilities follow the
transformers text-classification pipeline (softmax over labels, sigmoid for multi-label
heads or a single logit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trustwatch.monitors.scorers.base import score_in_batches
from trustwatch.monitors.scorers.sequence_classifier import ClassifierRunner, activation_for


def label_index(id2label: Mapping[int, str], label: str, source: str) -> int:
    """The index of ``label`` in ``id2label``; a ValueError listing the labels when it is not there."""
    exact = [int(i) for i, name in id2label.items() if name == label]
    if len(exact) == 1:
        return exact[0]
    folded = [int(i) for i, name in id2label.items() if name.casefold() == label.casefold()]
    if len(folded) == 1:
        return folded[0]
    labels = ", ".join(repr(id2label[i]) for i in sorted(id2label))
    raise ValueError(f"label {label!r} is not one of the labels of {source}: {labels}")


class HFClassifierScorer:
    """Probability of the label named ``label`` from a local sequence-classification folder."""

    name = "hf-classifier"

    def __init__(
        self,
        *,
        path: str | Path,
        label: str,
        device: str = "auto",
        batch_size: int = 32,
        max_length: int = 512,
    ) -> None:
        import transformers
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        from trustwatch.common.devices import pick_device
        from trustwatch.common.offline import enforce_offline

        enforce_offline()
        self.path = Path(path).expanduser().resolve()
        if not (self.path / "config.json").is_file():
            raise FileNotFoundError(f"hf-classifier: {self.path} is not a model folder (no config.json)")
        config = AutoConfig.from_pretrained(self.path, local_files_only=True)
        column = label_index(config.id2label, label, f"{self.path}/config.json")
        self.label = config.id2label[column]
        model = AutoModelForSequenceClassification.from_pretrained(self.path, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
        self.activation = activation_for(config)
        self._run = ClassifierRunner(
            model,
            tokenizer,
            column=column,
            activation=self.activation,
            device=pick_device(device),
            max_length=max_length,
        )
        self.batch_size = batch_size
        self._version = transformers.__version__
        self._fingerprint: str | None = None

    def describe(self) -> dict[str, Any]:
        from trustwatch.common.model_specs import folder_fingerprint

        if self._fingerprint is None:  # hashing a large folder once is enough
            self._fingerprint = folder_fingerprint(self.path)
        return {
            "name": self.name,
            "model": str(self.path),
            "checkpoint": None,
            "version": f"transformers {self._version}",
            "label": self.label,
            "activation": self.activation,
            "fingerprint": self._fingerprint,
        }

    def rate(self, texts: Sequence[str]) -> list[float | None]:
        return score_in_batches(texts, self.batch_size, self._run, self.name)
