"""Loading and validating outcomes: every bad row is named by its line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from trustwatch.monitors.outcomes import OutcomeError, OutcomeTable, load_outcomes, load_run


def row(item: int | str, variant: str, value: object = 1.0, **extra: object) -> dict[str, object]:
    out = {
        "item_id": item,
        "variant": variant,
        "probe": "crows_pairs",
        "group": "gender",
        "metric": "stereotype_preferred",
        "value": value,
    }
    out.update(extra)
    return out


def write(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_table_pairs_items_across_variants(tmp_path: Path) -> None:
    rows = [row(1, "original", 1), row(1, "q4", 0), row(2, "original", 0), row(3, "q4", True)]
    table = load_outcomes(write(tmp_path / "o.jsonl", rows))
    assert table.variants == ["original", "q4"]
    assert table.probes == ["crows_pairs"]
    assert table.item_ids("crows_pairs") == ["1", "2", "3"]
    np.testing.assert_array_equal(
        table.column("crows_pairs", "q4", "stereotype_preferred"), [0.0, np.nan, 1.0]
    )
    assert table.clusters("crows_pairs") is None
    table.check_pairing("original", "q4")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            {"item_id": 1, "variant": "q4", "probe": "p", "group": "g", "metric": "m"},
            "missing field(s) value",
        ),
        (row(1, "q4", "0.5"), "value must be a number, got str '0.5'"),
        (row(1, "q4", None), "value must be a number"),
        (row(1, "q4", float("nan")), "value must be finite"),
        (row(1, "", 1), "variant must be a non-empty string"),
        (row(1, "q4", group="all"), "group 'all' is reserved"),
        (row(None, "q4"), "item_id must be"),
        ([1, 2], "a row must be a JSON object"),
        ("{not json", "not valid JSON"),
        (row(1, "original", group="race"), "item '1' has group 'race' here but 'gender'"),
        (row(1, "original", 0.0), "duplicate outcome: item '1', variant 'original'"),
    ],
)
def test_bad_rows_name_the_line(tmp_path: Path, bad: object, message: str) -> None:
    path = write(tmp_path / "o.jsonl", [row(1, "original"), "", row(1, "q4"), bad])
    with pytest.raises(OutcomeError) as error:
        load_outcomes(path)
    assert error.value.line == 4
    assert str(error.value).startswith(f"{path}:4: ")
    assert message in str(error.value)


def test_unknown_variant_and_unpaired_items(tmp_path: Path) -> None:
    rows = [row(1, "original"), row(2, "original"), row(3, "q4"), row(4, "q4")]
    table = load_outcomes(write(tmp_path / "o.jsonl", rows))
    with pytest.raises(
        OutcomeError, match=r"unknown baseline variant 'base'; the outcomes have original, q4"
    ):
        table.check_pairing("base", "q4")
    with pytest.raises(
        OutcomeError, match=r"o.jsonl:3: .*no item is paired with baseline 'original'"
    ) as error:
        table.check_pairing("original", "q4")
    assert error.value.line == 3


def test_template_clusters_and_rows_in_memory() -> None:
    rows = [row(i, v, template=f"t{i // 2}" if i < 4 else None) for i in range(6) for v in ("original", "q4")]
    table = OutcomeTable.from_rows(rows)
    assert table.clusters("crows_pairs").tolist() == [0, 0, 1, 1, 2, 3]
    with pytest.raises(OutcomeError, match=r"^<rows>:2: item '0' has template 'u'"):
        OutcomeTable.from_rows([row(0, "original", template="t"), row(0, "q4", template="u")])


def test_empty_and_missing_inputs(tmp_path: Path) -> None:
    with pytest.raises(OutcomeError, match="no outcome rows"):
        load_outcomes(write(tmp_path / "empty.jsonl", [""]))
    with pytest.raises(OutcomeError, match="no such file"):
        load_outcomes(tmp_path / "absent.jsonl")
    with pytest.raises(OutcomeError, match="no such run directory"):
        load_run(tmp_path / "absent")
    (tmp_path / "run").mkdir()
    write(tmp_path / "run" / "outcomes.jsonl", [row(1, "original"), row(1, "q4")])
    assert load_run(tmp_path / "run").rows == 2
