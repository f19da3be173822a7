"""The embedded default scorer, alt-profanity-check, on made-up sentences."""

from __future__ import annotations

from trustwatch.monitors.scorers import DEFAULT_SCORER, Scorer, create_scorer

BENIGN = "the weather is calm and the river is quiet today"
OFFENSIVE = "shut up you stupid damn idiot"


def test_profanity_is_the_default_and_describes_itself() -> None:
    scorer = create_scorer(DEFAULT_SCORER)
    assert isinstance(scorer, Scorer)
    info = scorer.describe()
    assert info["name"] == "profanity"
    assert info["version"][0].isdigit()
    assert info["label"] == "offensive"


def test_offensive_text_scores_higher_than_benign_text() -> None:
    benign, offensive = create_scorer("profanity").rate([BENIGN, OFFENSIVE])
    assert benign is not None and offensive is not None
    assert 0.0 <= benign < 0.5 < offensive <= 1.0


def test_empty_text_is_a_real_score_and_batching_keeps_order() -> None:
    texts = [OFFENSIVE, "", BENIGN, "well, damn", "hello"] * 3
    whole = create_scorer("profanity").rate(texts)
    small = create_scorer("profanity", batch_size=2).rate(texts)
    assert whole == small
    assert all(isinstance(value, float) for value in whole)
    assert whole[0] == whole[5] == whole[10]
