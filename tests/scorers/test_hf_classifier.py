"""``hf-classifier`` on a tiny random BERT classifier folder built in the test."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trustwatch.monitors.scorers import create_scorer

from .tiny_classifiers import CORPUS, build_classifier


def _reference(model, tokenizer, texts: list[str], column: int, sigmoid: bool = False) -> list[float]:
    """Each text alone (no padding), through the in-memory model."""
    out = []
    with torch.no_grad():
        for text in texts:
            logits = model(**tokenizer(text, return_tensors="pt")).logits[0]
            probs = torch.sigmoid(logits) if sigmoid else torch.softmax(logits, dim=-1)
            out.append(float(probs[column]))
    return out


def test_scores_are_the_named_label_probability(toxic_classifier, no_network) -> None:
    folder, model, tokenizer = toxic_classifier
    texts = [*CORPUS, "", "an unseen word: zyxwv"]
    scorer = create_scorer("hf-classifier", path=str(folder), label="toxic", device="cpu", batch_size=3)
    scores = scorer.rate(texts)
    assert all(isinstance(s, float) and 0.0 <= s <= 1.0 for s in scores)
    assert scores == pytest.approx(_reference(model, tokenizer, texts, column=1), abs=1e-5)
    info = scorer.describe()
    assert info["name"] == "hf-classifier"
    assert info["label"] == "toxic"
    assert info["model"] == str(folder.resolve())
    assert info["activation"] == "softmax"
    assert len(info["fingerprint"]) == 64


def test_label_is_matched_case_insensitively(toxic_classifier) -> None:
    folder, _, _ = toxic_classifier
    scorer = create_scorer("hf-classifier", path=folder, label="TOXIC", device="cpu")
    assert scorer.describe()["label"] == "toxic"


def test_a_missing_label_lists_the_labels(toxic_classifier) -> None:
    folder, _, _ = toxic_classifier
    with pytest.raises(ValueError, match=r"label 'hate' is not one of the labels .*'not_toxic', 'toxic'"):
        create_scorer("hf-classifier", path=folder, label="hate")


def test_a_folder_without_config_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        create_scorer("hf-classifier", path=tmp_path, label="toxic")


def test_multi_label_heads_use_a_sigmoid(tmp_path: Path) -> None:
    labels = ["toxic", "insult", "threat"]
    model, tokenizer = build_classifier(tmp_path, labels, seed=3, problem_type="multi_label_classification")
    scorer = create_scorer("hf-classifier", path=tmp_path, label="insult", device="cpu")
    assert scorer.describe()["activation"] == "sigmoid"
    assert scorer.rate(CORPUS) == pytest.approx(
        _reference(model, tokenizer, CORPUS, 1, sigmoid=True), abs=1e-5
    )


def test_a_text_the_model_cannot_take_is_none_and_its_batch_is_still_scored(tmp_path: Path) -> None:
    """Without special tokens an empty text has no tokens at all: a failure, not the score of padding."""
    model, tokenizer = build_classifier(tmp_path, ["ok", "toxic"], special_tokens=False)
    assert tokenizer("")["input_ids"] == []
    scorer = create_scorer("hf-classifier", path=tmp_path, label="toxic", device="cpu")
    texts = [CORPUS[0], "", CORPUS[2]]
    scores = scorer.rate(texts)
    assert scores[1] is None
    assert scores[0::2] == pytest.approx(_reference(model, tokenizer, texts[0::2], column=1), abs=1e-5)
    assert scorer.rate([""]) == [None]
