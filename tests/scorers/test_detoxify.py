"""``detoxify`` from a local checkpoint and config folder, with the network blocked.

Real Detoxify weights cannot be fetched here, so the test writes a checkpoint in Detoxify's
format (``config.arch.args`` naming a hub model, ``config.dataset.args.classes``, and a
``state_dict``) for a tiny random BERT, and a config folder with a tokenizer trained here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trustwatch.monitors.scorers import create_scorer

from .tiny_classifiers import CORPUS, bert_config, build_tokenizer

pytest.importorskip("detoxify", reason="detoxify is not installed (optional extra: trustwatch[detoxify])")

JIGSAW_CLASSES = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]


@pytest.fixture(scope="module")
def detoxify_files(tmp_path_factory: pytest.TempPathFactory):
    """(checkpoint, config_dir, reference model, tokenizer)."""
    from transformers import BertForSequenceClassification

    root = tmp_path_factory.mktemp("detoxify")
    config_dir = root / "bert-config"
    tokenizer = build_tokenizer(config_dir)
    # The config folder holds the base model's config, without a classification head size:
    # Detoxify sets num_labels from the checkpoint's num_classes.
    bert_config(len(tokenizer)).save_pretrained(config_dir)
    torch.manual_seed(7)
    model = BertForSequenceClassification(bert_config(len(tokenizer), num_labels=len(JIGSAW_CLASSES))).eval()
    checkpoint = root / "toxic_tiny.ckpt"
    torch.save(
        {
            "config": {
                "arch": {
                    "args": {
                        "model_type": "bert-base-uncased",  # a hub name: must never be asked for
                        "model_name": "BertForSequenceClassification",
                        "tokenizer_name": "BertTokenizer",
                        "num_classes": len(JIGSAW_CLASSES),
                    }
                },
                "dataset": {"args": {"classes": JIGSAW_CLASSES}},
            },
            "state_dict": model.state_dict(),
        },
        checkpoint,
    )
    return checkpoint, config_dir, model, tokenizer


def _sigmoid_column(model, tokenizer, texts: list[str], column: int) -> list[float]:
    with torch.no_grad():
        return [
            float(torch.sigmoid(model(**tokenizer(t, return_tensors="pt")).logits[0, column])) for t in texts
        ]


def test_loads_offline_and_scores_with_the_checkpoint_weights(detoxify_files, no_network) -> None:
    checkpoint, config_dir, model, tokenizer = detoxify_files
    texts = [*CORPUS, ""]
    scorer = create_scorer(
        "detoxify", checkpoint=checkpoint, config_dir=config_dir, device="cpu", batch_size=4
    )
    scores = scorer.rate(texts)
    assert all(isinstance(s, float) and 0.0 <= s <= 1.0 for s in scores)
    # Equal to the saved model's own sigmoid(logit of "toxic"): the weights came from the checkpoint.
    assert scores == pytest.approx(_sigmoid_column(model, tokenizer, texts, 0), abs=1e-5)
    info = scorer.describe()
    assert info["name"] == "detoxify"
    assert info["label"] == "toxicity"
    assert info["model_type"] == "bert-base-uncased"
    assert info["checkpoint"] == str(checkpoint.resolve())
    assert info["classes"][0] == "toxicity" and info["classes"][-1] == "identity_attack"
    assert info["version"].startswith("detoxify ")


def test_another_class_by_its_standardised_name(detoxify_files, no_network) -> None:
    checkpoint, config_dir, model, tokenizer = detoxify_files
    scorer = create_scorer(
        "detoxify", checkpoint=checkpoint, config_dir=config_dir, label="insult", device="cpu"
    )
    assert scorer.rate(CORPUS) == pytest.approx(_sigmoid_column(model, tokenizer, CORPUS, 4), abs=1e-5)


def test_an_unknown_class_lists_the_classes(detoxify_files) -> None:
    checkpoint, config_dir, _, _ = detoxify_files
    with pytest.raises(
        ValueError, match=r"label 'toxic' is not one of the classes .*'toxicity', 'severe_toxicity'"
    ):
        create_scorer("detoxify", checkpoint=checkpoint, config_dir=config_dir, label="toxic")


def test_a_checkpoint_without_config_is_rejected(detoxify_files, tmp_path: Path) -> None:
    _, config_dir, model, _ = detoxify_files
    bare = tmp_path / "bare.ckpt"
    torch.save({"state_dict": model.state_dict()}, bare)
    with pytest.raises(ValueError, match="must be a dict with 'config' and 'state_dict'"):
        create_scorer("detoxify", checkpoint=bare, config_dir=config_dir)


def test_missing_files_are_named(detoxify_files, tmp_path: Path) -> None:
    checkpoint, config_dir, _, _ = detoxify_files
    with pytest.raises(FileNotFoundError, match=r"nothing\.ckpt does not exist"):
        create_scorer("detoxify", checkpoint=tmp_path / "nothing.ckpt", config_dir=config_dir)
    with pytest.raises(FileNotFoundError, match=r"has no config\.json"):
        create_scorer("detoxify", checkpoint=checkpoint, config_dir=tmp_path)
