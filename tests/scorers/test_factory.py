"""The scorer factory's errors and the batching contract every scorer shares."""

from __future__ import annotations

import math

import pytest

from trustwatch.monitors.scorers import SCORERS, available_scorers, create_scorer, score_in_batches


def test_unknown_scorer_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown scorer 'perspective'.*profanity, detoxify, hf-classifier"):
        create_scorer("perspective")


def test_missing_options_are_named() -> None:
    with pytest.raises(ValueError, match=r"missing option\(s\): path, label"):
        create_scorer("hf-classifier")
    with pytest.raises(ValueError, match=r"missing option\(s\): checkpoint, config_dir"):
        create_scorer("detoxify")


def test_unknown_options_are_named() -> None:
    with pytest.raises(ValueError, match=r"unknown option\(s\): colour, size"):
        create_scorer("profanity", size=3, colour="red")


def test_available_scorers_lists_every_scorer() -> None:
    info = available_scorers()
    assert tuple(info) == SCORERS
    assert info["profanity"]["available"] is True


def _fails_on_word(word: str):
    calls: list[list[str]] = []

    def batch(texts: list[str]) -> list[float]:
        calls.append(texts)
        if any(word in text for text in texts):
            raise RuntimeError(f"cannot take {word!r}")
        return [len(text) / 100 for text in texts]

    return batch, calls


def test_a_failing_text_gets_none_and_its_batch_neighbours_are_still_scored() -> None:
    batch, calls = _fails_on_word("BAD")
    texts = ["aa", "bbbb", "BAD", "c", "dddddd"]
    scores = score_in_batches(texts, 2, batch, "test")
    assert scores == [0.02, 0.04, None, 0.01, 0.06]
    assert calls[0] == ["aa", "bbbb"]
    assert ["c"] in calls  # the failed batch ("BAD", "c") was retried one text at a time


def test_non_strings_nan_and_out_of_range_values_are_failures_not_numbers() -> None:
    values = {"nan": math.nan, "big": 1.5, "neg": -0.1, "ok": 0.3}
    scores = score_in_batches(
        ["nan", "big", None, "neg", "ok"],  # type: ignore[list-item]
        8,
        lambda texts: [values[t] for t in texts],
        "test",
    )
    assert scores == [None, None, None, None, 0.3]


def test_no_texts_no_scores() -> None:
    assert score_in_batches([], 4, lambda texts: 1 / 0, "test") == []


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        score_in_batches(["a"], 0, lambda texts: [0.0], "test")
