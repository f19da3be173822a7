"""``detoxify``: a Detoxify checkpoint (Hanu & Unitary team 2020), loaded fully offline.

Detoxify builds its model from the checkpoint's ``config.arch.args``: ``model_type`` (a hub
name such as ``bert-base-uncased``, whose config and tokenizer it fetches), ``model_name``
and ``tokenizer_name`` (transformers classes) and ``num_classes``, then loads the
checkpoint's ``state_dict`` into it. Here the checkpoint is read with ``weights_only=True``
(no arbitrary unpickling), ``model_type`` is pointed at the local ``config_dir`` (which
holds that model's ``config.json`` and tokenizer files), and Detoxify's own
``get_model_and_tokenizer`` builds the model, so nothing asks a hub. Scores are the
sigmoid of the chosen class's logit, as in ``Detoxify.predict``; class names are
standardised as Detoxify does (``toxic`` -> ``toxicity``).

The published weights (``toxic_original-c1212f89.ckpt`` and the others listed in
``detoxify.detoxify.MODEL_URLS``) must be downloaded by the user; trustwatch never does.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from trustwatch.monitors.scorers.base import ScorerUnavailableError, score_in_batches
from trustwatch.monitors.scorers.sequence_classifier import ClassifierRunner

ARCH_ARGS = ("model_type", "model_name", "tokenizer_name", "num_classes")
# detoxify.detoxify.load_checkpoint standardises these class names.
_CLASS_NAMES = {"toxic": "toxicity", "identity_hate": "identity_attack", "severe_toxic": "severe_toxicity"}


def detoxify_available() -> bool:
    return importlib.util.find_spec("detoxify") is not None


def read_checkpoint(path: Path) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """``(arch args, state_dict, class names)`` of a Detoxify checkpoint, each checked."""
    import torch

    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(
            f"detoxify checkpoint {path} cannot be read with weights_only=True: {error}"
        ) from error
    if not isinstance(loaded, dict) or "config" not in loaded or "state_dict" not in loaded:
        raise ValueError(f"detoxify checkpoint {path} must be a dict with 'config' and 'state_dict'")
    try:
        args = dict(loaded["config"]["arch"]["args"])
        classes = list(loaded["config"]["dataset"]["args"]["classes"])
    except (KeyError, TypeError) as error:
        raise ValueError(
            f"detoxify checkpoint {path}: config lacks arch.args or dataset.args.classes ({error!r})"
        ) from error
    missing = [key for key in ARCH_ARGS if key not in args]
    extra = sorted(set(args) - set(ARCH_ARGS))
    if missing or extra:
        raise ValueError(
            f"detoxify checkpoint {path}: config.arch.args missing {missing}, unexpected {extra}"
        )
    return args, loaded["state_dict"], [_CLASS_NAMES.get(c, c) for c in classes]


class DetoxifyScorer:
    """Probability of one Detoxify class (default ``toxicity``) from a local checkpoint."""

    name = "detoxify"

    def __init__(
        self,
        *,
        checkpoint: str | Path,
        config_dir: str | Path,
        label: str = "toxicity",
        device: str = "auto",
        batch_size: int = 32,
        max_length: int = 512,
    ) -> None:
        if not detoxify_available():
            raise ScorerUnavailableError("the detoxify scorer needs the detoxify package (extra: detoxify)")
        from detoxify.detoxify import get_model_and_tokenizer

        from trustwatch.common.devices import pick_device
        from trustwatch.common.offline import enforce_offline

        enforce_offline()
        self.checkpoint = Path(checkpoint).expanduser().resolve()
        self.config_dir = Path(config_dir).expanduser().resolve()
        if not self.checkpoint.is_file():
            raise FileNotFoundError(f"detoxify checkpoint {self.checkpoint} does not exist")
        if not (self.config_dir / "config.json").is_file():
            raise FileNotFoundError(
                f"detoxify config_dir {self.config_dir} has no config.json (it needs the config and "
                "tokenizer files of the checkpoint's model_type)"
            )
        args, state_dict, self.classes = read_checkpoint(self.checkpoint)
        if label not in self.classes:
            raise ValueError(
                f"label {label!r} is not one of the classes of {self.checkpoint}: {self.classes}"
            )
        self.label = label
        self.hub_model_type = str(args["model_type"])
        model, tokenizer = get_model_and_tokenizer(
            **{**args, "model_type": str(self.config_dir)}, state_dict=state_dict
        )
        self._run = ClassifierRunner(
            model,
            tokenizer,
            column=self.classes.index(label),
            activation="sigmoid",
            device=pick_device(device),
            max_length=max_length,
        )
        self.batch_size = batch_size
        self._sha256: str | None = None

    def describe(self) -> dict[str, Any]:
        from trustwatch.common.model_specs import file_sha256

        if self._sha256 is None:  # hashing a large checkpoint once is enough
            self._sha256 = file_sha256(self.checkpoint)
        return {
            "name": self.name,
            "model": str(self.config_dir),
            "checkpoint": str(self.checkpoint),
            "checkpoint_sha256": self._sha256,
            "model_type": self.hub_model_type,
            "version": f"detoxify {metadata.version('detoxify')}",
            "label": self.label,
            "classes": self.classes,
        }

    def rate(self, texts: Sequence[str]) -> list[float | None]:
        return score_in_batches(texts, self.batch_size, self._run, self.name)
