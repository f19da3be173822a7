"""``trustwatch probes list`` and ``export``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trustwatch.probes import read_items
from trustwatch.server.cli import main as cli


def test_list_without_data(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["probes", "list", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {p["probe"] for p in payload["builtin"]} == {
        "toxicity", "stereotype_agreement", "crows_pairs", "bbq", "dialect", "perplexity"}
    crows = next(entry for entry in payload["loaders"] if entry["loader"] == "crows_pairs")
    assert crows["needs"] == ["crows_pairs_anonymized.csv"] and "items" not in crows


def test_list_with_data(shared_probesets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["probes", "list", "--data", str(shared_probesets), "--json"]) == 0
    loaders = {e["loader"]: e for e in json.loads(capsys.readouterr().out)["loaders"]}
    assert loaders["crows_pairs"]["items"] == 1508 and loaders["crows_pairs"]["groups"]["gender"] == 262
    assert loaders["bold"]["skipped"] == {"empty prompt": 5}
    assert cli.main(["probes", "list", "--data", str(tmp_path)]) == 0
    assert "not found" in capsys.readouterr().out


def test_export(shared_probesets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bbq.jsonl"
    args = ["probes", "export", "--data", str(shared_probesets), "--loader", "bbq", "--limit", "12", "--out", str(out)]
    assert cli.main(args) == 0
    items = read_items(out)
    assert len(items) == 12 and len({i.group for i in items}) == 6
    assert cli.main(["probes", "export", "--loader", "builtin:dialect", "--out", str(tmp_path / "d.jsonl")]) == 0
    assert len(read_items(tmp_path / "d.jsonl")) == 20
    capsys.readouterr()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--loader", "nope"], "unknown loader 'nope'"),
        (["--loader", "crows_pairs"], "give --data DIR"),
        (["--loader", "builtin:nope"], "no built-in pack 'nope'"),
        (["--loader", "crows_pairs", "--data", "{tmp}"], "missing crows_pairs_anonymized.csv"),
        (["--loader", "builtin", "--limit", "0"], "--limit must be >= 1"),
    ],
)
def test_export_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert cli.main(["probes", "export", *args, "--out", str(tmp_path / "x.jsonl")]) == 2
    assert message in capsys.readouterr().err
